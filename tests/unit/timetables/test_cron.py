"""Cron timetables: first run, next run, catchup, start/end dates, manual intervals, backfill."""

from __future__ import annotations

import pendulum
import pytest

from dagflow.timetables import CronTimetable, DagRunInfo, DataInterval, create_timetable

from .conftest import utc

DAILY = CronTimetable("@daily", "UTC")
NOW = utc(2024, 5, 10, 13, 7)  # a Friday afternoon


def test_first_run_with_catchup_starts_at_start_date(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 5, 1), catchup=True, now=NOW),
    )
    assert info == DagRunInfo.interval(utc(2024, 5, 1), utc(2024, 5, 2))
    assert info.run_after == utc(2024, 5, 2)
    assert info.logical_date == utc(2024, 5, 1)


def test_unaligned_start_date_moves_to_next_cron_point(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 5, 1, 9, 30), catchup=True, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 2), utc(2024, 5, 3))


def test_next_run_follows_the_last_interval(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 5, 3), utc(2024, 5, 4)),
        restriction=restrict(utc(2024, 5, 1), catchup=True, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 4), utc(2024, 5, 5))


def test_without_catchup_first_run_is_latest_complete_interval(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 5, 1), catchup=False, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 9), utc(2024, 5, 10))
    assert info.run_after <= NOW


def test_without_catchup_now_on_a_boundary(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 5, 1), catchup=False, now=utc(2024, 5, 10)),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 9), utc(2024, 5, 10))


def test_without_catchup_skips_missed_intervals_after_last_run(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 5, 2), utc(2024, 5, 3)),
        restriction=restrict(utc(2024, 5, 1), catchup=False, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 9), utc(2024, 5, 10))


def test_without_catchup_up_to_date_dag_gets_the_next_interval(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 5, 9), utc(2024, 5, 10)),
        restriction=restrict(utc(2024, 5, 1), catchup=False, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 10), utc(2024, 5, 11))
    assert info.run_after > NOW  # not due yet


def test_without_catchup_recent_start_date_wins(restrict):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 5, 10), catchup=False, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 10), utc(2024, 5, 11))


@pytest.mark.parametrize("catchup", [True, False])
def test_future_start_date_runs_nothing_yet(restrict, catchup):
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 6, 1), catchup=catchup, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 6, 1), utc(2024, 6, 2))
    assert info.run_after > NOW


def test_no_start_date_no_automated_run(restrict):
    info = DAILY.next_dagrun_info(last_automated_data_interval=None, restriction=restrict(None, catchup=False, now=NOW))
    assert info is None


def test_end_date_stops_scheduling(restrict):
    restriction = restrict(utc(2024, 5, 1), utc(2024, 5, 3), catchup=True, now=NOW)
    last = DataInterval(utc(2024, 5, 2), utc(2024, 5, 3))
    info = DAILY.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
    assert info.data_interval == DataInterval(utc(2024, 5, 3), utc(2024, 5, 4))  # starts on end_date
    last = info.data_interval
    assert DAILY.next_dagrun_info(last_automated_data_interval=last, restriction=restriction) is None


def test_end_date_before_start_date_means_nothing(restrict):
    restriction = restrict(utc(2024, 5, 5), utc(2024, 5, 1), catchup=True, now=NOW)
    assert DAILY.next_dagrun_info(last_automated_data_interval=None, restriction=restriction) is None


def test_changed_schedule_realigns_the_last_interval(restrict):
    """A DAG moved from @hourly to @daily continues at the daily point before the last end."""
    info = DAILY.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 5, 3, 4), utc(2024, 5, 3, 5)),
        restriction=restrict(utc(2024, 5, 1), catchup=True, now=NOW),
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 3), utc(2024, 5, 4))


def test_cron_in_local_timezone():
    tokyo = CronTimetable("0 6 * * *", "Asia/Tokyo")  # 06:00 JST = 21:00 UTC the day before
    assert tokyo.next_after(utc(2024, 5, 1)) == utc(2024, 5, 1, 21)
    assert tokyo.prev_before(utc(2024, 5, 1)) == utc(2024, 4, 30, 21)


def test_weekday_schedule_skips_weekend(restrict):
    weekdays = CronTimetable("0 9 * * 1-5", "UTC")
    last = DataInterval(utc(2024, 5, 9, 9), utc(2024, 5, 10, 9))  # Thursday -> Friday
    info = weekdays.next_dagrun_info(
        last_automated_data_interval=last, restriction=restrict(utc(2024, 1, 1), catchup=True, now=NOW)
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 10, 9), utc(2024, 5, 13, 9))


@pytest.mark.parametrize(
    ("run_after", "expected"),
    [
        (utc(2024, 5, 10, 1), DataInterval(utc(2024, 5, 9), utc(2024, 5, 10))),
        (utc(2024, 5, 10), DataInterval(utc(2024, 5, 9), utc(2024, 5, 10))),
        (pendulum.datetime(2024, 5, 10, 1, tz="Europe/Amsterdam"), DataInterval(utc(2024, 5, 8), utc(2024, 5, 9))),
    ],
)
def test_infer_manual_data_interval_is_last_complete_interval(run_after, expected):
    assert DAILY.infer_manual_data_interval(run_after=run_after) == expected


def test_infer_automated_data_interval():
    hourly = create_timetable("@hourly")
    assert hourly.infer_automated_data_interval(utc(2024, 5, 1, 3)) == DataInterval(
        utc(2024, 5, 1, 3), utc(2024, 5, 1, 4)
    )


def test_iter_intervals_30_day_backfill():
    intervals = list(DAILY.iter_intervals(utc(2024, 4, 1), utc(2024, 4, 30)))
    assert len(intervals) == 30
    assert intervals[0] == DataInterval(utc(2024, 4, 1), utc(2024, 4, 2))
    assert intervals[-1] == DataInterval(utc(2024, 4, 30), utc(2024, 5, 1))
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:]))


def test_iter_intervals_aligns_an_unaligned_range():
    intervals = list(DAILY.iter_intervals(utc(2024, 4, 1, 12), utc(2024, 4, 3, 12)))
    assert [i.start for i in intervals] == [utc(2024, 4, 2), utc(2024, 4, 3)]


def test_iter_intervals_empty_range():
    assert list(DAILY.iter_intervals(utc(2024, 4, 1, 1), utc(2024, 4, 1, 23))) == []


def test_iter_intervals_local_timezone_across_dst():
    """A 30-day daily backfill in Amsterdam crossing spring-forward: logical dates stay at local midnight."""
    amsterdam = CronTimetable("@daily", "Europe/Amsterdam")
    start = pendulum.datetime(2024, 3, 15, tz="Europe/Amsterdam")
    end = pendulum.datetime(2024, 4, 13, tz="Europe/Amsterdam")
    intervals = list(amsterdam.iter_intervals(start, end))
    assert len(intervals) == 30
    local_starts = {i.start.in_timezone("Europe/Amsterdam").time() for i in intervals}
    assert local_starts == {pendulum.time(0, 0)}
    lengths = {(i.end - i.start).total_seconds() / 3600 for i in intervals}
    assert lengths == {23.0, 24.0}
