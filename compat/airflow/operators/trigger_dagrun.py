"""``TriggerDagRunOperator`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.operators import TriggerDagRunOperator

__all__ = ["TriggerDagRunOperator"]
