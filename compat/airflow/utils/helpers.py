"""``chain`` and ``cross_downstream`` (Airflow 2's old path)."""

from __future__ import annotations

from dagflow.sdk import chain, chain_linear, cross_downstream

__all__ = ["chain", "chain_linear", "cross_downstream"]
