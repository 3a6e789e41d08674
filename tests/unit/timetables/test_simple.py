"""None, @once and @continuous timetables."""

from __future__ import annotations

from dagflow.timetables import (
    ContinuousTimetable,
    DagRunInfo,
    DataInterval,
    NullTimetable,
    OnceTimetable,
)

from .conftest import utc

NOW = utc(2024, 5, 10, 13, 7)


def test_null_never_schedules(restrict):
    null = NullTimetable()
    restriction = restrict(utc(2024, 1, 1), catchup=True, now=NOW)
    assert null.next_dagrun_info(last_automated_data_interval=None, restriction=restriction) is None
    assert null.infer_manual_data_interval(NOW) == DataInterval(NOW, NOW)
    assert list(null.iter_intervals(utc(2024, 1, 1), utc(2024, 2, 1))) == []


def test_once_runs_at_start_date_whatever_catchup(restrict):
    once = OnceTimetable()
    for catchup in (True, False):
        restriction = restrict(utc(2024, 1, 1), catchup=catchup, now=NOW)
        info = once.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
        assert info == DagRunInfo.exact(utc(2024, 1, 1))
        again = once.next_dagrun_info(last_automated_data_interval=info.data_interval, restriction=restriction)
        assert again is None


def test_once_needs_start_date_and_respects_end_date(restrict):
    once = OnceTimetable()
    assert (
        once.next_dagrun_info(last_automated_data_interval=None, restriction=restrict(None, catchup=True, now=NOW))
        is None
    )
    late = restrict(utc(2024, 2, 1), utc(2024, 1, 1), catchup=True, now=NOW)
    assert once.next_dagrun_info(last_automated_data_interval=None, restriction=late) is None


def test_once_future_start_date_waits(restrict):
    info = OnceTimetable().next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict(utc(2024, 6, 1), catchup=False, now=NOW)
    )
    assert info.run_after == utc(2024, 6, 1) > NOW


def test_once_backfill_yields_one_interval():
    assert list(OnceTimetable().iter_intervals(utc(2024, 1, 1), utc(2024, 2, 1))) == [
        DataInterval.exact(utc(2024, 1, 1))
    ]


def test_continuous_first_and_next(restrict):
    continuous = ContinuousTimetable()
    restriction = restrict(utc(2024, 5, 1), catchup=False, now=NOW)
    first = continuous.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first.data_interval == DataInterval(utc(2024, 5, 1), NOW)
    later = restrict(utc(2024, 5, 1), catchup=False, now=NOW.add(minutes=5))
    second = continuous.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=later)
    assert second.data_interval == DataInterval(NOW, NOW.add(minutes=5))
    assert second.run_after == NOW.add(minutes=5)


def test_continuous_stops_at_end_date_and_has_no_backfill(restrict):
    continuous = ContinuousTimetable()
    restriction = restrict(utc(2024, 5, 1), utc(2024, 5, 2), catchup=False, now=NOW)
    assert continuous.next_dagrun_info(last_automated_data_interval=None, restriction=restriction) is None
    assert list(continuous.iter_intervals(utc(2024, 1, 1), utc(2024, 2, 1))) == []
