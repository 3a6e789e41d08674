"""Time zone handling for timetables: resolve, (de)serialize, and map wall clock to UTC."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone

import pendulum
from pendulum import DateTime, FixedTimezone, Timezone

from dagflow.exceptions import DagDefinitionError

TimezoneLike = str | tzinfo | None
#: How far apart we look when asking "does the UTC offset change near this instant?".
_DST_WINDOW = timedelta(hours=3)


def resolve_timezone(value: TimezoneLike) -> Timezone | FixedTimezone:
    """Turn a name, a tzinfo or None (UTC) into a pendulum time zone."""
    if value is None:
        return pendulum.UTC
    if isinstance(value, (Timezone, FixedTimezone)):
        return value
    if isinstance(value, zoneinfo.ZoneInfo):
        return pendulum.timezone(value.key)
    if isinstance(value, dt_timezone):
        offset = value.utcoffset(None)
        return pendulum.UTC if not offset else FixedTimezone(int(offset.total_seconds()))
    if isinstance(value, str):
        try:
            return pendulum.timezone(value)
        except Exception:  # noqa: BLE001 - pendulum raises several kinds
            raise DagDefinitionError(f"unknown time zone {value!r}") from None
    raise DagDefinitionError(f"unsupported time zone {value!r}: use an IANA name such as 'UTC'")


def timezone_to_json(tz: Timezone | FixedTimezone) -> str | int:
    """An IANA name, or the offset in seconds for a fixed-offset zone."""
    if isinstance(tz, Timezone):
        return tz.name
    return int(tz.offset)


def timezone_from_json(value: str | int) -> Timezone | FixedTimezone:
    """Inverse of :func:`timezone_to_json`."""
    if isinstance(value, int):
        return FixedTimezone(value)
    return resolve_timezone(value)


def _plain_utc(instant: datetime) -> datetime:
    """A stdlib (not pendulum) aware UTC datetime: much faster arithmetic in hot loops."""
    utc = instant.astimezone(UTC)
    return datetime(
        utc.year,
        utc.month,
        utc.day,
        utc.hour,
        utc.minute,
        utc.second,
        utc.microsecond,
        tzinfo=UTC,
    )


def wall_clock(instant: datetime, tz: tzinfo) -> datetime:
    """The naive local wall-clock reading of ``instant`` in ``tz``."""
    return _plain_utc(instant).astimezone(tz).replace(tzinfo=None)


def utc_candidates(naive: datetime, tz: tzinfo) -> list[DateTime]:
    """The instants that a local wall-clock time may name, earliest first.

    Two for an ambiguous time (the clock went back), one for a normal time, and for a
    time skipped by the clock going forward, the two readings with either offset.
    """
    instants = set()
    for fold in (0, 1):
        offset = naive.replace(tzinfo=tz, fold=fold).utcoffset() or timedelta(0)
        utc = (naive - offset).replace(tzinfo=pendulum.UTC)
        instants.add(pendulum.instance(utc).in_timezone(pendulum.UTC))
    return sorted(instants)


def instants_on_wall_clock(naive: datetime, tz: tzinfo) -> list[DateTime]:
    """Every real instant whose local wall clock reads ``naive`` (0, 1 or 2 of them)."""
    return [t for t in utc_candidates(naive, tz) if wall_clock(t, tz) == naive]


def local_to_utc(naive: datetime, tz: tzinfo) -> DateTime:
    """One instant for a local wall-clock time, as Airflow resolves DST edges.

    An ambiguous time (clock went back) is the later, second occurrence; a skipped time
    (clock went forward) is pushed forward by the gap, so 02:30 becomes 03:30 summer time.
    """
    return utc_candidates(naive, tz)[-1]


def dst_swing(instant: datetime, tz: tzinfo) -> timedelta:
    """How much the UTC offset changes within a few hours of ``instant`` (usually zero)."""
    plain = _plain_utc(instant)
    offsets = [
        (plain + delta).astimezone(tz).utcoffset() or timedelta(0)
        for delta in (-_DST_WINDOW, timedelta(0), _DST_WINDOW)
    ]
    return max(offsets) - min(offsets)
