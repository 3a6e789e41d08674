"""``BashOperator`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.operators import BashOperator

__all__ = ["BashOperator"]
