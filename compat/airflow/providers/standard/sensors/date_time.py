"""``DateTimeSensor``."""

from __future__ import annotations

from dagflow.sensors import DateTimeSensor

__all__ = ["DateTimeSensor"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "DateTimeSensorAsync": "deferrable sensors are not available in dagflow's Airflow layer yet",
    },
)
