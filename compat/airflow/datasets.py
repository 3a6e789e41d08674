"""Airflow 2's ``Dataset`` (dagflow's Asset), once dagflow has assets."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.sdk.assets", ["Dataset"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(
    __name__,
    {
        "Dataset": "Dataset is not available in this dagflow yet",
    },
)
