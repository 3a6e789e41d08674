"""``LatestOnlyOperator``."""

from __future__ import annotations

from dagflow.operators import LatestOnlyOperator

__all__ = ["LatestOnlyOperator"]
