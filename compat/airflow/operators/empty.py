"""``EmptyOperator`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.operators import EmptyOperator

__all__ = ["EmptyOperator"]
