"""``BranchDayOfWeekOperator``."""

from __future__ import annotations

from dagflow.operators import BranchDayOfWeekOperator

__all__ = ["BranchDayOfWeekOperator"]
