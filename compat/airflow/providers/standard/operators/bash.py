"""``BashOperator``."""

from __future__ import annotations

from dagflow.operators import BashOperator

__all__ = ["BashOperator"]
