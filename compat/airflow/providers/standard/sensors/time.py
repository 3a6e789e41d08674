"""``TimeSensor``."""

from __future__ import annotations

from dagflow.sensors import TimeSensor

__all__ = ["TimeSensor"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "TimeSensorAsync": "deferrable sensors are not available in dagflow's Airflow layer yet",
    },
)
