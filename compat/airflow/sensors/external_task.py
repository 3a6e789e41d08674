"""``ExternalTaskSensor`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sensors import ExternalTaskSensor

__all__ = ["ExternalTaskSensor"]

from airflow._compat import unsupported_names

__getattr__ = unsupported_names(
    __name__,
    {
        "ExternalTaskMarker": "ExternalTaskMarker (clearing across DAGs) is not available",
    },
)
