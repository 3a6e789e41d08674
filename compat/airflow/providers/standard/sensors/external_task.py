"""``ExternalTaskSensor`` (``deferrable=True`` runs in reschedule mode until dagflow's sensor defers)."""

from __future__ import annotations

from airflow._compat import accepts_deferrable, unsupported_names
from dagflow.sensors import ExternalTaskSensor as _ExternalTaskSensor

ExternalTaskSensor = accepts_deferrable(_ExternalTaskSensor)

__all__ = ["ExternalTaskSensor"]

__getattr__ = unsupported_names(
    __name__, {"ExternalTaskMarker": "ExternalTaskMarker (clearing across DAGs) is not available"}
)
