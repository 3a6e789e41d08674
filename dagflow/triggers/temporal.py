"""Time triggers: fire at a moment (``DateTimeTrigger``) or after a delay (``TimeDeltaTrigger``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError
from dagflow.triggers.base import BaseTrigger, TriggerEvent

#: Longest single sleep, so a moved system clock is noticed.
MAX_SLEEP_S = 60.0


def _moment(value: datetime | str) -> pendulum.DateTime:
    if isinstance(value, str):
        parsed = pendulum.parse(value)
        if not isinstance(parsed, pendulum.DateTime):
            raise DagDefinitionError(f"DateTimeTrigger: {value!r} is not a date and time")
        return parsed.in_timezone("UTC")
    if not isinstance(value, datetime):
        raise DagDefinitionError(f"DateTimeTrigger: expected a datetime, got {value!r}")
    if value.tzinfo is None:
        raise DagDefinitionError(f"DateTimeTrigger: {value!r} has no timezone")
    return pendulum.instance(value).in_timezone("UTC")


class DateTimeTrigger(BaseTrigger):
    """Fires at ``moment`` (an aware datetime or ISO-8601 text); the event payload is the moment (ISO)."""

    def __init__(self, moment: datetime | str) -> None:
        self.moment = _moment(moment)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The moment as ISO-8601 UTC."""
        return (DateTimeTrigger.classpath(), {"moment": self.moment.isoformat()})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Sleep until the moment (in bounded steps), then yield it."""
        while True:
            left = (self.moment - pendulum.now("UTC")).total_seconds()
            if left <= 0:
                break
            await asyncio.sleep(min(left, MAX_SLEEP_S))
        yield TriggerEvent(self.moment.isoformat())


class TimeDeltaTrigger(DateTimeTrigger):
    """Fires ``delta`` after it was made (a ``DateTimeTrigger`` at now + delta)."""

    def __init__(self, delta: timedelta) -> None:
        super().__init__(pendulum.now("UTC") + delta)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Stored as the ``DateTimeTrigger`` it is: the delta counts from when the task deferred."""
        return (DateTimeTrigger.classpath(), {"moment": self.moment.isoformat()})
