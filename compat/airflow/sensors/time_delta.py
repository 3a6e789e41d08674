"""``TimeDeltaSensor`` (``deferrable=True`` runs in reschedule mode until dagflow's sensor defers)."""

from __future__ import annotations

from airflow._compat import accepts_deferrable, unsupported_names
from dagflow.sensors import TimeDeltaSensor as _TimeDeltaSensor

TimeDeltaSensor = accepts_deferrable(_TimeDeltaSensor)
#: Airflow's deferring variant.
TimeDeltaSensorAsync = accepts_deferrable(_TimeDeltaSensor, default=True)

__all__ = ["TimeDeltaSensor", "TimeDeltaSensorAsync"]

__getattr__ = unsupported_names(__name__, {"WaitSensor": "WaitSensor is not available (use TimeDeltaSensor)"})
