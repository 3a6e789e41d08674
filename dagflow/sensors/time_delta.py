"""``TimeDeltaSensor``: wait until some time after the end of the run's data interval."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pendulum

from dagflow.sdk.durations import to_timedelta
from dagflow.sdk.sensor import BaseSensorOperator


class TimeDeltaSensor(BaseSensorOperator):
    """Done once ``data_interval_end + delta`` has passed."""

    def __init__(self, *, delta: timedelta | float | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = to_timedelta(delta) or timedelta(0)

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Has the target time passed?"""
        end: datetime = context.get("data_interval_end") or context["logical_date"]
        target = pendulum.instance(end) + self.delta
        now = pendulum.now("UTC")
        print(f"waiting until {target.isoformat()} (now {now.isoformat()})", flush=True)
        return now >= target
