"""``DAG`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk import DAG

__all__ = ["DAG"]
