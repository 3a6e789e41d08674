"""``BaseOperator`` (Airflow 3's path)."""

from __future__ import annotations

from dagflow.sdk import BaseOperator, chain, chain_linear, cross_downstream

__all__ = ["BaseOperator", "chain", "chain_linear", "cross_downstream"]
