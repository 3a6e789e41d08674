"""``DateTimeSensor`` (when dagflow has it); ``deferrable=True`` runs in reschedule mode until dagflow's sensor defers."""

from __future__ import annotations

from airflow._compat import accepts_deferrable, available, unsupported_names

_SENSORS = available("dagflow.sensors", ["DateTimeSensor"])
if _SENSORS:
    DateTimeSensor = accepts_deferrable(_SENSORS["DateTimeSensor"])
    #: Airflow's deferring variant.
    DateTimeSensorAsync = accepts_deferrable(_SENSORS["DateTimeSensor"], default=True)

__all__ = ["DateTimeSensor", "DateTimeSensorAsync"]

__getattr__ = unsupported_names(
    __name__,
    {
        "DateTimeSensor": "DateTimeSensor is not available in this dagflow yet",
        "DateTimeSensorAsync": "DateTimeSensor is not available in this dagflow yet",
    },
)
