"""The value types: DataInterval, DagRunInfo, TimeRestriction."""

from __future__ import annotations

from datetime import datetime

import pendulum
import pytest

from dagflow.timetables import DagRunInfo, DataInterval, TimeRestriction

from .conftest import utc


def test_values_are_coerced_to_pendulum_utc():
    interval = DataInterval(datetime(2024, 1, 1), pendulum.datetime(2024, 1, 1, 3, tz="Europe/Amsterdam"))
    assert interval.start == utc(2024, 1, 1)
    assert interval.end == utc(2024, 1, 1, 2)
    assert interval.end.timezone_name == "UTC"
    assert isinstance(interval.start, pendulum.DateTime)


def test_interval_must_not_end_before_it_starts():
    with pytest.raises(ValueError, match="before it starts"):
        DataInterval(utc(2024, 1, 2), utc(2024, 1, 1))


def test_run_info_shapes():
    info = DagRunInfo.interval(utc(2024, 1, 1), utc(2024, 1, 2))
    assert info.run_after == utc(2024, 1, 2)
    assert info.logical_date == utc(2024, 1, 1)
    exact = DagRunInfo.exact(utc(2024, 1, 1))
    assert exact.run_after == exact.logical_date == exact.data_interval.end


def test_values_are_frozen():
    interval = DataInterval(utc(2024, 1, 1), utc(2024, 1, 2))
    with pytest.raises(AttributeError):
        interval.start = utc(2023, 1, 1)  # type: ignore[misc]


def test_restriction_uses_explicit_now():
    restriction = TimeRestriction(earliest=None, latest=None, catchup=False, now=datetime(2024, 1, 1))
    assert restriction.current_time() == utc(2024, 1, 1)
