"""``BaseBranchOperator``."""

from __future__ import annotations

from dagflow.operators import BaseBranchOperator

__all__ = ["BaseBranchOperator"]
