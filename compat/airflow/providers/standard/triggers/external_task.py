"""``DagStateTrigger`` and ``WorkflowTrigger``, once dagflow has deferral."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.triggers", ["DagStateTrigger"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(
    __name__,
    {
        "DagStateTrigger": "DagStateTrigger is not available in this dagflow yet",
    },
)
