"""``BranchDateTimeOperator`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.operators import BranchDateTimeOperator

__all__ = ["BranchDateTimeOperator"]
