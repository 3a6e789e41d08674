"""Fixed-length timetables: a ``timedelta`` (or ISO-8601 duration) between runs, in real time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from pendulum import DateTime

from dagflow.exceptions import DagDefinitionError
from dagflow.timetables.interval import DataIntervalTimetable


def parse_iso_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration such as ``PT30M`` or ``P1DT2H`` into a timedelta."""
    try:
        parsed = pendulum.parse(text.strip().upper())
    except Exception:  # noqa: BLE001 - any parse error is "not a duration"
        parsed = None
    if not isinstance(parsed, pendulum.Duration):
        raise DagDefinitionError(f"invalid ISO-8601 duration {text!r} (examples: PT30M, PT1H, P1D)")
    if parsed.years or parsed.months:
        raise DagDefinitionError(
            f"duration {text!r} uses years or months, which have no fixed length; "
            "use a cron preset such as @monthly instead"
        )
    return timedelta(seconds=parsed.total_seconds())


def _describe(delta: timedelta) -> str:
    """``Every 30 minutes``, ``Every 1 day, 6 hours``."""
    seconds = int(delta.total_seconds())
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return "Every " + ", ".join(parts or [str(delta)])


class DeltaTimetable(DataIntervalTimetable):
    """Runs every ``delta`` of real (UTC) time, counted from the start_date.

    DST does not shift these runs: ``timedelta(days=1)`` is always 24 hours, so a run at
    00:00 winter time is followed by runs at 01:00 summer time.
    """

    type_name = "delta"

    def __init__(self, delta: timedelta | str) -> None:
        self.delta = parse_iso_duration(delta) if isinstance(delta, str) else _as_timedelta(delta)
        if self.delta <= timedelta(0):
            raise DagDefinitionError(f"schedule interval must be positive, got {self.delta}")
        self.description = _describe(self.delta)

    @property
    def summary(self) -> str:
        """``every 1:00:00``."""
        return f"every {self.delta}"

    def next_after(self, instant: DateTime) -> DateTime:
        """``instant + delta``."""
        return instant + self.delta

    def prev_before(self, instant: DateTime) -> DateTime:
        """``instant - delta``."""
        return instant - self.delta

    def align_to_next(self, instant: DateTime) -> DateTime:
        """Every instant is a schedule point: the grid starts at the start_date."""
        return instant

    def align_to_prev(self, instant: DateTime) -> DateTime:
        """Every instant is a schedule point: the grid starts at the start_date."""
        return instant

    def serialize(self) -> dict[str, Any]:
        """``{"type": "delta", "delta": seconds}``."""
        return {"type": self.type_name, "delta": self.delta.total_seconds()}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DeltaTimetable:
        """Rebuild from :meth:`serialize` output."""
        return cls(timedelta(seconds=data["delta"]))

    def __repr__(self) -> str:
        return f"DeltaTimetable({self.delta!r})"


def _as_timedelta(value: timedelta) -> timedelta:
    """A plain timedelta; a pendulum Duration with months or years is refused."""
    if isinstance(value, pendulum.Duration) and (value.years or value.months):
        raise DagDefinitionError(f"schedule {value!r} uses years or months; use a cron preset such as @monthly")
    return timedelta(seconds=value.total_seconds())
