"""``DateTimeTrigger`` and ``TimeDeltaTrigger``, once dagflow has deferral."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.triggers", ["DateTimeTrigger", "TimeDeltaTrigger"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(
    __name__,
    {
        "DateTimeTrigger": "DateTimeTrigger is not available in this dagflow yet",
        "TimeDeltaTrigger": "TimeDeltaTrigger is not available in this dagflow yet",
    },
)
