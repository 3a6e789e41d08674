"""``BranchDateTimeOperator``."""

from __future__ import annotations

from dagflow.operators import BranchDateTimeOperator

__all__ = ["BranchDateTimeOperator"]
