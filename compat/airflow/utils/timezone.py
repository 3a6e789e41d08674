"""Timezone helpers (``airflow.utils.timezone``): aware datetimes, UTC by default."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum

utc = pendulum.UTC


def utcnow() -> pendulum.DateTime:
    """Now, in UTC."""
    return pendulum.now("UTC")


def datetime(*args: Any, **kwargs: Any) -> dt.datetime:
    """``datetime.datetime(...)``, in UTC unless ``tzinfo`` is given."""
    kwargs.setdefault("tzinfo", utc)
    return dt.datetime(*args, **kwargs)


def is_localized(value: dt.datetime) -> bool:
    """True for an aware datetime."""
    return value.utcoffset() is not None


def is_naive(value: dt.datetime) -> bool:
    """True for a naive datetime."""
    return value.utcoffset() is None


def make_aware(value: dt.datetime, timezone: Any = None) -> pendulum.DateTime:
    """A naive ``value`` read in ``timezone`` (default UTC)."""
    return pendulum.instance(value, tz=timezone or utc)


def convert_to_utc(value: dt.datetime | None) -> pendulum.DateTime | None:
    """``value`` in UTC (a naive value is read as UTC)."""
    return None if value is None else pendulum.instance(value).in_timezone("UTC")


def coerce_datetime(value: dt.datetime | None, tz: Any = None) -> pendulum.DateTime | None:
    """``value`` as an aware pendulum datetime (a naive value read in ``tz``, default UTC)."""
    if value is None:
        return None
    return pendulum.instance(value, tz=tz or utc)


def parse(string: str, timezone: Any = None) -> pendulum.DateTime:
    """Parse an ISO-8601 string (in ``timezone`` when it has no offset)."""
    return pendulum.parse(string, tz=timezone or utc)  # type: ignore[return-value]


__all__ = [
    "coerce_datetime",
    "convert_to_utc",
    "datetime",
    "is_localized",
    "is_naive",
    "make_aware",
    "parse",
    "utc",
    "utcnow",
]
