"""``BranchDateTimeOperator``: follow one branch inside a time window, the other outside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError
from dagflow.operators.branch import BaseBranchOperator

Bound = dt.datetime | dt.time | None


class BranchDateTimeOperator(BaseBranchOperator):
    """Follows ``follow_task_ids_if_true`` when now (or the logical date) is between the bounds."""

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: Bound = None,
        target_upper: Bound = None,
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if target_lower is None and target_upper is None:
            raise DagDefinitionError(f"task {self.task_id!r}: give target_lower, target_upper or both")
        self.follow_task_ids_if_true = follow_task_ids_if_true
        self.follow_task_ids_if_false = follow_task_ids_if_false
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.use_task_logical_date = use_task_logical_date

    def choose_branch(self, context: Mapping[str, Any]) -> str | Iterable[str]:
        """The true branch inside ``[target_lower, target_upper]``, else the false one."""
        now = pendulum.instance(context["logical_date"]) if self.use_task_logical_date else pendulum.now("UTC")
        tz = self.dag.timezone if self.dag is not None else pendulum.UTC
        lower, upper = target_times_as_dates(now.in_timezone(tz).naive(), self.target_lower, self.target_upper)
        if upper is not None and _aware(upper, tz) < now:
            return self.follow_task_ids_if_false
        if lower is not None and _aware(lower, tz) > now:
            return self.follow_task_ids_if_false
        return self.follow_task_ids_if_true


def target_times_as_dates(base: dt.datetime, lower: Bound, upper: Bound) -> tuple[dt.datetime | None, ...]:
    """Times of day become datetimes on ``base``'s date; an upper time before the lower one is the next day."""
    if isinstance(lower, dt.datetime) and isinstance(upper, dt.datetime):
        return lower, upper
    low = dt.datetime.combine(base.date(), lower) if isinstance(lower, dt.time) else lower
    high = dt.datetime.combine(base.date(), upper) if isinstance(upper, dt.time) else upper
    if low is not None and high is not None and high < low:
        high += dt.timedelta(days=1)
    return low, high


def _aware(value: dt.datetime, tz: Any) -> pendulum.DateTime:
    if value.tzinfo is None:
        return pendulum.instance(value, tz=tz)
    return pendulum.instance(value)
