"""``TimeSensor`` (``deferrable=True`` runs in reschedule mode until dagflow's sensor defers)."""

from __future__ import annotations

from airflow._compat import accepts_deferrable
from dagflow.sensors import TimeSensor as _TimeSensor

TimeSensor = accepts_deferrable(_TimeSensor)
#: Airflow's deferring variant.
TimeSensorAsync = accepts_deferrable(_TimeSensor, default=True)

__all__ = ["TimeSensor", "TimeSensorAsync"]
