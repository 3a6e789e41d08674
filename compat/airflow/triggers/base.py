"""``BaseTrigger`` and ``TriggerEvent``, once dagflow has deferral."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.triggers", ["BaseTrigger", "TriggerEvent"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(
    __name__,
    {
        "BaseTrigger": "BaseTrigger is not available in this dagflow yet",
        "TriggerEvent": "TriggerEvent is not available in this dagflow yet",
    },
)
