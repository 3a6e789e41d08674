"""create_timetable: every accepted schedule value, errors, and serialization round trips."""

from __future__ import annotations

from datetime import UTC, timedelta

import pendulum
import pytest

from dagflow.exceptions import DagDefinitionError
from dagflow.timetables import (
    ContinuousTimetable,
    CronDataIntervalTimetable,
    CronTimetable,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
    create_timetable,
    parse_iso_duration,
    timetable_from_dict,
)


@pytest.mark.parametrize(
    ("schedule", "kind", "summary"),
    [
        (None, NullTimetable, "None"),
        ("@once", OnceTimetable, "@once"),
        ("@continuous", ContinuousTimetable, "@continuous"),
        ("@hourly", CronTimetable, "@hourly"),
        ("@daily", CronTimetable, "@daily"),
        ("@weekly", CronTimetable, "@weekly"),
        ("@monthly", CronTimetable, "@monthly"),
        ("@quarterly", CronTimetable, "@quarterly"),
        ("@yearly", CronTimetable, "@yearly"),
        ("0 6 * * *", CronTimetable, "0 6 * * *"),
        ("  */15 * * * 1-5 ", CronTimetable, "*/15 * * * 1-5"),
        (timedelta(hours=1), DeltaTimetable, "every 1:00:00"),
        ("PT30M", DeltaTimetable, "every 0:30:00"),
        ("P1D", DeltaTimetable, "every 1 day, 0:00:00"),
    ],
)
def test_schedule_values_map_to_timetables(schedule, kind, summary):
    timetable = create_timetable(schedule, "Europe/Amsterdam")
    assert type(timetable) is kind
    assert timetable.summary == summary
    assert timetable.description


def test_preset_expands_to_airflow_expression():
    assert create_timetable("@daily").expression == "0 0 * * *"
    assert create_timetable("@weekly").expression == "0 0 * * 0"
    assert create_timetable("@quarterly").expression == "0 0 1 */3 *"


def test_timetable_instance_is_returned_as_is():
    timetable = CronTimetable("0 6 * * *", "Asia/Tokyo")
    assert create_timetable(timetable) is timetable


def test_airflow_names_are_aliases():
    assert CronDataIntervalTimetable is CronTimetable


def test_flags():
    assert not NullTimetable.can_be_scheduled and not NullTimetable.periodic
    assert OnceTimetable.can_be_scheduled and not OnceTimetable.periodic
    assert CronTimetable.periodic and DeltaTimetable.periodic
    assert ContinuousTimetable.active_runs_limit == 1


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ("bad", "'bad'"),
        ("@hourlyy", "unknown preset"),
        ("61 * * * *", "'61 * * * *'"),
        ("0 6 * * * *", "5-field"),
        ("P1M", "months"),
        ("PT0S", "positive"),
        ("Pxx", "'Pxx'"),
        (5, "invalid schedule 5"),
        (timedelta(0), "positive"),
    ],
)
def test_bad_schedules_raise_one_clear_line(schedule, fragment):
    with pytest.raises(DagDefinitionError) as excinfo:
        create_timetable(schedule)
    message = str(excinfo.value)
    assert fragment in message
    assert "\n" not in message


def test_unknown_timezone_is_a_definition_error():
    with pytest.raises(DagDefinitionError, match="Mars/Olympus"):
        create_timetable("@daily", "Mars/Olympus")


def test_iso_durations():
    assert parse_iso_duration("PT30M") == timedelta(minutes=30)
    assert parse_iso_duration("p1dt2h") == timedelta(days=1, hours=2)
    assert parse_iso_duration("P1W") == timedelta(weeks=1)


@pytest.mark.parametrize(
    "timetable",
    [
        NullTimetable(),
        OnceTimetable(),
        ContinuousTimetable(),
        CronTimetable("30 2 * * *", "Europe/Amsterdam"),
        CronTimetable("@daily", pendulum.FixedTimezone(3600)),
        CronTimetable("0 * * * *"),
        DeltaTimetable(timedelta(minutes=90)),
    ],
    ids=repr,
)
def test_serialize_round_trip(timetable: Timetable):
    data = timetable.serialize()
    rebuilt = timetable_from_dict(data)
    assert rebuilt == timetable
    assert rebuilt.serialize() == data
    assert rebuilt.summary == timetable.summary


def test_round_trip_keeps_behaviour():
    timetable = CronTimetable("30 2 * * *", "America/New_York")
    rebuilt = timetable_from_dict(timetable.serialize())
    at = pendulum.datetime(2024, 3, 9, tz="UTC")
    assert rebuilt.infer_manual_data_interval(at) == timetable.infer_manual_data_interval(at)


@pytest.mark.parametrize("data", [{}, {"type": "lunar"}, {"kind": "cron"}, "cron"])
def test_timetable_from_bad_dict(data):
    with pytest.raises(DagDefinitionError, match="cannot rebuild timetable"):
        timetable_from_dict(data)


def test_create_timetable_accepts_tzinfo_objects():
    import zoneinfo
    from datetime import timezone

    assert create_timetable("@daily", zoneinfo.ZoneInfo("Europe/Paris")).serialize()["timezone"] == "Europe/Paris"
    assert create_timetable("@daily", UTC).serialize()["timezone"] == "UTC"
    assert create_timetable("@daily", timezone(timedelta(hours=2))).serialize()["timezone"] == 7200
    assert create_timetable("@daily", None).serialize()["timezone"] == "UTC"
