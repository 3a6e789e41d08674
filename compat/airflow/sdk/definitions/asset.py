"""``Asset`` and its expressions (Airflow 3's definition path), once dagflow has assets."""

from __future__ import annotations

from airflow._compat import available, unsupported_names

_NAMES = available("dagflow.sdk.assets", ["Asset", "AssetAll", "AssetAny", "Dataset"])
globals().update(_NAMES)

__all__ = list(_NAMES)

__getattr__ = unsupported_names(
    __name__,
    {
        "Asset": "Asset is not available in this dagflow yet",
        "AssetAll": "AssetAll is not available in this dagflow yet",
        "AssetAny": "AssetAny is not available in this dagflow yet",
        "Dataset": "Dataset is not available in this dagflow yet",
    },
)
