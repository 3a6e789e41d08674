"""``EmptyOperator``."""

from __future__ import annotations

from dagflow.operators import EmptyOperator

__all__ = ["EmptyOperator"]
