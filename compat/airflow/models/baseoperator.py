"""``BaseOperator``, ``chain``, ``cross_downstream`` (Airflow 2's path)."""

from __future__ import annotations

from dagflow.sdk import BaseOperator, chain, chain_linear, cross_downstream

__all__ = ["BaseOperator", "chain", "chain_linear", "cross_downstream"]
