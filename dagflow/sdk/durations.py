"""Durations as users write them: ``timedelta``, seconds, or ISO-8601 (``"PT5M"``)."""

from __future__ import annotations

import re
from datetime import timedelta

from dagflow.exceptions import InvalidDuration

_ISO_DURATION = re.compile(
    r"^(?P<sign>[-+])?P(?!$)"
    r"(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?"
    r"(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)"
    r"(?:(?P<hours>\d+(?:[.,]\d+)?)H)?"
    r"(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?"
    r")?$",
    re.IGNORECASE,
)


def parse_iso_duration(text: str) -> timedelta:
    """Parse an ISO-8601 duration without years or months (``P1DT2H``, ``PT0.5S``, ``P2W``)."""
    match = _ISO_DURATION.match(text.strip())
    if match is None or text.strip().upper().endswith("T"):
        raise InvalidDuration(
            f"invalid duration {text!r}: expected an ISO-8601 duration such as 'PT5M' or 'P1DT2H'"
            " (years and months are not fixed lengths and are not accepted)"
        )
    parts = {
        name: float(value.replace(",", "."))
        for name, value in match.groupdict().items()
        if name != "sign" and value is not None
    }
    delta = timedelta(**parts)
    return -delta if match.group("sign") == "-" else delta


def to_timedelta(value: timedelta | float | int | str | None) -> timedelta | None:
    """Normalise a duration (``timedelta``, seconds, ISO-8601 string, or None) to a ``timedelta``."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise InvalidDuration(f"invalid duration {value!r}: expected a timedelta, seconds or 'PT5M'")
    if isinstance(value, (int, float)):
        return timedelta(seconds=value)
    if isinstance(value, str):
        return parse_iso_duration(value)
    raise InvalidDuration(
        f"invalid duration {value!r} ({type(value).__name__}): expected a timedelta, seconds or 'PT5M'"
    )


def to_seconds(value: timedelta | float | int | str) -> float:
    """A duration in seconds (float); accepts what ``to_timedelta`` accepts, except None."""
    delta = to_timedelta(value)
    if delta is None:
        raise InvalidDuration("invalid duration None: a duration is required here")
    return delta.total_seconds()
