"""``FileTrigger``, once dagflow has deferral (``FileDeleteTrigger`` is not mapped)."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.triggers", ["FileTrigger"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(
    __name__,
    {
        "FileTrigger": "FileTrigger is not available in this dagflow yet",
    },
)
