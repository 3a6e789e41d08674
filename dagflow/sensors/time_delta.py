"""``TimeDeltaSensor`` (some time after the run's data interval ends) and ``DateTimeSensor`` (a moment)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.durations import to_timedelta
from dagflow.sdk.sensor import BaseSensorOperator
from dagflow.triggers.temporal import DateTimeTrigger


class TimeDeltaSensor(BaseSensorOperator):
    """Done once ``data_interval_end + delta`` has passed."""

    def __init__(self, *, delta: timedelta | float | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = to_timedelta(delta) or timedelta(0)

    def target_time(self, context: Mapping[str, Any]) -> pendulum.DateTime:
        """``data_interval_end + delta``."""
        end: datetime = context.get("data_interval_end") or context["logical_date"]
        return pendulum.instance(end) + self.delta

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke (or reschedule); with ``deferrable=True`` wait in the triggerer until the target time."""
        if not self.deferrable:
            return super().execute(context)
        target = self.target_time(context)
        if pendulum.now("UTC") < target:
            print(f"deferring until {target.isoformat()}", flush=True)
            self.defer_with(DateTimeTrigger(target))
        return None

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Has the target time passed?"""
        target = self.target_time(context)
        now = pendulum.now("UTC")
        print(f"waiting until {target.isoformat()} (now {now.isoformat()})", flush=True)
        return now >= target


class DateTimeSensor(BaseSensorOperator):
    """Done once ``target_time`` (templated; an aware datetime or ISO-8601 text) has passed."""

    template_fields: Sequence[str] = ("target_time",)

    def __init__(self, *, target_time: datetime | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, (datetime, str)):
            raise DagDefinitionError(f"task {self.task_id!r}: target_time must be a datetime or a string")
        self.target_time = target_time

    def _target(self) -> pendulum.DateTime:
        value = self.target_time
        moment = pendulum.parse(value) if isinstance(value, str) else pendulum.instance(value)
        if not isinstance(moment, pendulum.DateTime):
            raise DagDefinitionError(f"task {self.task_id!r}: target_time {value!r} is not a date and time")
        return moment.in_timezone("UTC")

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke (or reschedule); with ``deferrable=True`` wait in the triggerer."""
        if not self.deferrable:
            return super().execute(context)
        target = self._target()
        if pendulum.now("UTC") < target:
            self.defer_with(DateTimeTrigger(target))
        return None

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Has the target time passed?"""
        return bool(pendulum.now("UTC") >= self._target())
