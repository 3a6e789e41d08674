"""``Param``."""

from __future__ import annotations

from dagflow.sdk import Param, ParamsDict

__all__ = ["Param", "ParamsDict"]
