"""``DateTimeSensor`` (``deferrable=True`` runs in reschedule mode until dagflow's sensor defers)."""

from __future__ import annotations

from airflow._compat import accepts_deferrable
from dagflow.sensors import DateTimeSensor as _DateTimeSensor

DateTimeSensor = accepts_deferrable(_DateTimeSensor)
#: Airflow's deferring variant.
DateTimeSensorAsync = accepts_deferrable(_DateTimeSensor, default=True)

__all__ = ["DateTimeSensor", "DateTimeSensorAsync"]
