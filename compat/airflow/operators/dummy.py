"""``DummyOperator`` (Airflow 2's old name of EmptyOperator)."""

from __future__ import annotations

from dagflow.operators import DummyOperator, EmptyOperator

__all__ = ["DummyOperator", "EmptyOperator"]
