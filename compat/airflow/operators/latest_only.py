"""``LatestOnlyOperator`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.operators import LatestOnlyOperator

__all__ = ["LatestOnlyOperator"]
