"""``BaseSensorOperator, PokeReturnValue`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk import BaseSensorOperator, PokeReturnValue

__all__ = ["BaseSensorOperator", "PokeReturnValue"]
