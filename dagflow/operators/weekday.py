"""``BranchDayOfWeekOperator``: follow one branch on given days of the week, the other otherwise."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pendulum

from dagflow.operators.branch import BaseBranchOperator
from dagflow.sdk.weekday import WeekDay


class BranchDayOfWeekOperator(BaseBranchOperator):
    """Follows ``follow_task_ids_if_true`` when today (or the logical date) is one of ``week_day``."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        """The true branch on a matching day, else the false one."""
        now = context["logical_date"] if self.use_task_logical_date else pendulum.now("UTC")
        if now.isoweekday() in self._week_day_num:
            return self.follow_task_ids_if_true
        return self.follow_task_ids_if_false
