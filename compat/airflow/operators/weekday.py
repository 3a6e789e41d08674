"""``BranchDayOfWeekOperator`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.operators import BranchDayOfWeekOperator

__all__ = ["BranchDayOfWeekOperator"]
