"""``EmptyOperator``: does nothing; for joins, starts and ends of DAGs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    """A task that does nothing (the scheduler may finish it without a worker)."""

    ui_color = "#e8f7e4"
    inherits_from_empty_operator = True
    never_branches = True

    def execute(self, context: Mapping[str, Any]) -> None:
        """Nothing to do."""
        return None


#: Airflow 1/2 name.
DummyOperator = EmptyOperator
