"""``UTCDateTime`` binds every aware datetime as the same instant in UTC, whatever its time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest
from sqlalchemy.dialects import postgresql, sqlite

from dagflow.models.base import UTCDateTime

PARIS = ZoneInfo("Europe/Paris")
CASES = [
    pendulum.datetime(2026, 12, 7, 3, 4, 5, 123456, tz="UTC"),
    pendulum.datetime(2026, 7, 1, 12, 0, tz="Europe/Paris"),  # summer time
    pendulum.datetime(2026, 3, 29, 1, 59, 59, 999999, tz="Europe/Paris"),  # the last moment of winter time
    datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=0),  # the hour that happens twice: first
    datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1),  # ... and second
    # a wall time that never happens (clocks jump 02:00 -> 03:00): the standard library's rule,
    # the offset before the jump for fold=0 (as ``astimezone``), not pendulum's for its own values
    datetime(2026, 3, 29, 2, 30, tzinfo=PARIS, fold=0),
    datetime(2026, 1, 1, 0, 15, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),  # across a year
    datetime(2026, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("value", CASES, ids=repr)
def test_an_aware_datetime_binds_as_its_instant_in_utc(value: datetime) -> None:
    kind = UTCDateTime()
    expected = value.astimezone(UTC)
    bound = kind.process_bind_param(value, postgresql.dialect())
    assert type(bound) is datetime and bound.tzinfo is UTC  # no pendulum object goes to the driver
    assert bound == expected and bound.utcoffset() == timedelta(0)
    naive = kind.process_bind_param(value, sqlite.dialect())
    assert type(naive) is datetime and naive.tzinfo is None
    assert naive == expected.replace(tzinfo=None)


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2026, 1, 1), postgresql.dialect())
    with pytest.raises(TypeError):
        UTCDateTime().process_bind_param("2026-01-01", postgresql.dialect())  # type: ignore[arg-type]
