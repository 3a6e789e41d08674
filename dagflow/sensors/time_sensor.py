"""``TimeSensor``: wait until a time of day (in the DAG's timezone)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.sensor import BaseSensorOperator


class TimeSensor(BaseSensorOperator):
    """Done once ``target_time`` (a time of day in the DAG's timezone) has passed today."""

    def __init__(self, *, target_time: dt.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, dt.time):
            raise DagDefinitionError(f"task {self.task_id!r}: target_time must be a datetime.time")
        self.target_time = target_time

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Has the time of day passed?"""
        tz = self.dag.timezone if self.dag is not None else pendulum.UTC
        now = pendulum.now("UTC").in_timezone(tz)
        target = pendulum.instance(dt.datetime.combine(now.date(), self.target_time), tz=tz)
        print(f"waiting until {target.isoformat()} (now {now.isoformat()})", flush=True)
        return now >= target
