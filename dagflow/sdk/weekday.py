"""``WeekDay``: the days of the week as ISO numbers (Monday 1 .. Sunday 7), Airflow's names."""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from dagflow.exceptions import DagDefinitionError


class WeekDay(IntEnum):
    """A day of the week; its value is ``datetime.isoweekday()``."""

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> int:
        """The ISO number of a day name (``"monday"``, case-insensitive)."""
        try:
            return int(cls[week_day_str.upper()])
        except KeyError:
            names = ", ".join(day.name.lower() for day in cls)
            raise DagDefinitionError(f"invalid week day {week_day_str!r}; expected one of {names}") from None

    @classmethod
    def convert(cls, day: str | WeekDay) -> int:
        """A day name or ``WeekDay`` as its ISO number."""
        if isinstance(day, WeekDay):
            return int(day)
        if isinstance(day, str):
            return cls.get_weekday_number(day)
        raise DagDefinitionError(f"invalid week day {day!r}: expected a day name or a WeekDay")

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[int]:
        """One day or several (a set, list or dict of them) as the set of their ISO numbers."""
        if isinstance(week_day, (str, WeekDay)):
            return {cls.convert(week_day)}
        if isinstance(week_day, Iterable):
            return {cls.convert(day) for day in week_day}
        raise DagDefinitionError(f"invalid week_day {week_day!r}: expected a day, or a set/list of days")
