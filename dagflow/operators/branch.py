"""``BaseBranchOperator``: subclass it and implement ``choose_branch(context)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.branch import push_branch


class BaseBranchOperator(BaseOperator):
    """Follows the task id(s) ``choose_branch`` returns; other direct downstream tasks are skipped."""

    ui_color = "#ffd9c9"

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str] | None:
        """The task id(s) or task group id(s) to follow."""
        raise NotImplementedError(f"{type(self).__name__} must implement choose_branch()")

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Record the chosen branch; returns it."""
        branches = self.choose_branch(context)
        push_branch(context, self, branches)
        return branches
