"""``DayOfWeekSensor``: wait until a given day of the week."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pendulum

from dagflow.sdk.sensor import BaseSensorOperator
from dagflow.sdk.weekday import WeekDay


class DayOfWeekSensor(BaseSensorOperator):
    """Done when today (or the run's logical date) is one of ``week_day``."""

    def __init__(
        self,
        *,
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.week_day = week_day
        self.use_task_logical_date = use_task_logical_date
        self._week_day_num = WeekDay.validate_week_day(week_day)

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Is it one of the days?"""
        now = context["logical_date"] if self.use_task_logical_date else pendulum.now("UTC")
        return now.isoweekday() in self._week_day_num
