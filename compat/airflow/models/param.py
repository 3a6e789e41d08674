"""``Param`` and ``ParamsDict`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk import Param, ParamsDict

__all__ = ["Param", "ParamsDict"]
