"""Cron timetables: a croniter expression evaluated on the DAG's local wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from pendulum import DateTime, FixedTimezone, Timezone

from dagflow.exceptions import DagDefinitionError
from dagflow.timetables.interval import DataIntervalTimetable
from dagflow.timetables.timezones import (
    TimezoneLike,
    dst_swing,
    instants_on_wall_clock,
    local_to_utc,
    resolve_timezone,
    timezone_from_json,
    timezone_to_json,
    wall_clock,
)

#: Airflow's cron presets (``@once``, ``@continuous`` are not cron and live elsewhere).
CRON_PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

_PRESET_DESCRIPTIONS: dict[str, str] = {
    "@hourly": "Every hour, at minute 0",
    "@daily": "Every day at midnight",
    "@weekly": "Every Sunday at midnight",
    "@monthly": "At midnight on the first day of every month",
    "@quarterly": "At midnight on the first day of every quarter",
    "@yearly": "At midnight on January 1",
}

_ONE_SECOND = timedelta(seconds=1)


def _compile(expression: str) -> croniter:
    """A croniter for a five-field expression, or DagDefinitionError naming it."""
    if len(expression.split()) != 5:
        raise DagDefinitionError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week) or a preset such as @daily"
        )
    try:
        cron = croniter(expression, datetime(2000, 1, 1))
        cron.get_next(datetime)
    except Exception as exc:  # noqa: BLE001 - croniter raises several kinds
        raise DagDefinitionError(f"invalid cron expression {expression!r}: {exc}") from None
    return cron


class CronTimetable(DataIntervalTimetable):
    """Runs on a cron schedule; each run covers the interval between two cron points.

    The expression is read on the wall clock of ``timezone``. Around DST changes:
    schedules that fire at least once every hour (hour field ``*``) run at every real
    instant whose wall clock matches, so no real hour is lost or doubled; other schedules
    fire once per matching wall-clock time: a time skipped by spring-forward moves forward
    by the gap (02:30 -> 03:30 summer time) and a time repeated by fall-back fires on its
    second occurrence only.
    """

    type_name = "cron"

    def __init__(self, cron: str, timezone: TimezoneLike = "UTC") -> None:
        self._given = cron.strip()
        self.expression = CRON_PRESETS.get(self._given, self._given)
        if self._given.startswith("@") and self._given not in CRON_PRESETS:
            raise DagDefinitionError(
                f"unknown schedule preset {self._given!r}: use one of "
                f"{', '.join(['@once', '@continuous', *CRON_PRESETS])}"
            )
        self.timezone: Timezone | FixedTimezone = resolve_timezone(timezone)
        self._every_hour = _compile(self.expression).expanded[1] == ["*"]
        self.description = _describe(self._given, self.expression)

    @property
    def summary(self) -> str:
        """The expression as given: ``0 6 * * *`` or ``@daily``."""
        return self._given

    def next_after(self, instant: DateTime) -> DateTime:
        """The first cron point strictly after ``instant``."""
        tz = self.timezone
        cron = croniter(self.expression, wall_clock(instant, tz) - dst_swing(instant, tz) - _ONE_SECOND)
        best: DateTime | None = None
        while True:
            naive = cron.get_next(datetime)
            if best is not None and naive > wall_clock(best, tz) + dst_swing(best, tz):
                return best
            later = [t for t in self._instants(naive) if t > instant]
            if later and (best is None or later[0] < best):
                best = later[0]

    def prev_before(self, instant: DateTime) -> DateTime:
        """The last cron point strictly before ``instant``."""
        tz = self.timezone
        cron = croniter(self.expression, wall_clock(instant, tz) + dst_swing(instant, tz) + _ONE_SECOND)
        best: DateTime | None = None
        while True:
            naive = cron.get_prev(datetime)
            if best is not None and naive < wall_clock(best, tz) - dst_swing(best, tz):
                return best
            earlier = [t for t in self._instants(naive) if t < instant]
            if earlier and (best is None or earlier[-1] > best):
                best = earlier[-1]

    def _instants(self, naive: datetime) -> list[DateTime]:
        """The UTC instants a cron wall-clock time stands for (see the class docstring)."""
        if self._every_hour:
            return instants_on_wall_clock(naive, self.timezone)
        return [local_to_utc(naive, self.timezone)]

    def serialize(self) -> dict[str, Any]:
        """``{"type": "cron", "expression": ..., "timezone": ...}``."""
        return {
            "type": self.type_name,
            "expression": self._given,
            "timezone": timezone_to_json(self.timezone),
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> CronTimetable:
        """Rebuild from :meth:`serialize` output."""
        return cls(data["expression"], timezone_from_json(data.get("timezone", "UTC")))

    def __repr__(self) -> str:
        zone = timezone_to_json(self.timezone)
        return f"CronTimetable({self._given!r}, timezone={zone!r})"


def _describe(given: str, expression: str) -> str:
    """A short human description of a cron expression (simple forms only)."""
    if given in _PRESET_DESCRIPTIONS:
        return _PRESET_DESCRIPTIONS[given]
    minute, hour, dom, month, dow = expression.split()
    if minute.isdigit() and hour.isdigit() and (dom, month, dow) == ("*", "*", "*"):
        return f"Every day at {int(hour):02d}:{int(minute):02d}"
    if minute.isdigit() and (hour, dom, month, dow) == ("*", "*", "*", "*"):
        return f"Every hour at minute {int(minute)}"
    return f"Cron schedule {expression}"
