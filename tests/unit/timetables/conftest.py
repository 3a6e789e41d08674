"""Helpers for timetable tests: UTC datetimes and a restriction with a fixed clock."""

from __future__ import annotations

import pendulum
import pytest
from pendulum import DateTime

from dagflow.timetables import TimeRestriction


def utc(*args: int) -> DateTime:
    """A UTC datetime."""
    return pendulum.datetime(*args, tz="UTC")


@pytest.fixture()
def restrict():
    """Build a TimeRestriction; ``now`` is always explicit."""

    def build(earliest=None, latest=None, *, catchup: bool, now: DateTime) -> TimeRestriction:
        return TimeRestriction(earliest=earliest, latest=latest, catchup=catchup, now=now)

    return build
