"""``TimeDeltaSensor`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sensors import TimeDeltaSensor

__all__ = ["TimeDeltaSensor"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "TimeDeltaSensorAsync": "deferrable sensors are not available in dagflow's Airflow layer yet",
        "WaitSensor": "WaitSensor is not available (use TimeDeltaSensor)",
    },
)
