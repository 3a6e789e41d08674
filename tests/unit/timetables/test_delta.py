"""Delta timetables: fixed real-time steps from the start_date."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from dagflow.timetables import DagRunInfo, DataInterval, DeltaTimetable, create_timetable

from .conftest import utc

NOW = utc(2024, 5, 10, 13, 7)
EVERY_6H = DeltaTimetable(timedelta(hours=6))


def test_first_run_starts_at_start_date_unaligned(restrict):
    info = EVERY_6H.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=restrict(utc(2024, 5, 1, 1, 15), catchup=True, now=NOW),
    )
    assert info == DagRunInfo.interval(utc(2024, 5, 1, 1, 15), utc(2024, 5, 1, 7, 15))


def test_next_run_follows_last(restrict):
    last = DataInterval(utc(2024, 5, 1, 1, 15), utc(2024, 5, 1, 7, 15))
    info = EVERY_6H.next_dagrun_info(
        last_automated_data_interval=last, restriction=restrict(utc(2024, 5, 1), catchup=True, now=NOW)
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 1, 7, 15), utc(2024, 5, 1, 13, 15))


def test_without_catchup_runs_the_interval_ending_now(restrict):
    last = DataInterval(utc(2024, 5, 1), utc(2024, 5, 1, 6))
    info = EVERY_6H.next_dagrun_info(
        last_automated_data_interval=last, restriction=restrict(utc(2024, 5, 1), catchup=False, now=NOW)
    )
    assert info.data_interval == DataInterval(NOW - timedelta(hours=6), NOW)
    assert info.run_after == NOW


def test_without_catchup_on_time_dag_keeps_its_grid(restrict):
    last = DataInterval(utc(2024, 5, 10, 6), utc(2024, 5, 10, 12))
    info = EVERY_6H.next_dagrun_info(
        last_automated_data_interval=last, restriction=restrict(utc(2024, 5, 1), catchup=False, now=NOW)
    )
    assert info.data_interval == DataInterval(utc(2024, 5, 10, 12), utc(2024, 5, 10, 18))


def test_future_start_date_and_end_date(restrict):
    future = EVERY_6H.next_dagrun_info(
        last_automated_data_interval=None, restriction=restrict(utc(2024, 6, 1), catchup=False, now=NOW)
    )
    assert future.data_interval.start == utc(2024, 6, 1) and future.run_after > NOW
    ended = EVERY_6H.next_dagrun_info(
        last_automated_data_interval=DataInterval(utc(2024, 5, 1), utc(2024, 5, 1, 6)),
        restriction=restrict(utc(2024, 5, 1), utc(2024, 5, 1, 3), catchup=True, now=NOW),
    )
    assert ended is None


def test_delta_is_real_time_across_dst():
    daily = create_timetable(timedelta(days=1), "Europe/Amsterdam")
    start = pendulum.datetime(2024, 3, 30, tz="Europe/Amsterdam")  # 23:00 UTC
    intervals = list(daily.iter_intervals(start, utc(2024, 3, 31, 23)))
    assert [i.start for i in intervals] == [utc(2024, 3, 29, 23), utc(2024, 3, 30, 23), utc(2024, 3, 31, 23)]
    assert intervals[-1].start.in_timezone("Europe/Amsterdam").hour == 1  # 01:00 CEST


def test_iso_duration_schedule():
    every_30m = create_timetable("PT30M")
    assert list(every_30m.iter_intervals(utc(2024, 1, 1), utc(2024, 1, 1, 1))) == [
        DataInterval(utc(2024, 1, 1, 0, 0), utc(2024, 1, 1, 0, 30)),
        DataInterval(utc(2024, 1, 1, 0, 30), utc(2024, 1, 1, 1, 0)),
        DataInterval(utc(2024, 1, 1, 1, 0), utc(2024, 1, 1, 1, 30)),
    ]


def test_manual_and_automated_intervals():
    assert EVERY_6H.infer_manual_data_interval(NOW) == DataInterval(NOW - timedelta(hours=6), NOW)
    assert EVERY_6H.infer_automated_data_interval(NOW) == DataInterval(NOW, NOW + timedelta(hours=6))


def test_pendulum_duration_accepted():
    assert DeltaTimetable(pendulum.duration(hours=2)).delta == timedelta(hours=2)
