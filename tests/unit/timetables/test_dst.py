"""Cron schedules across DST changes, in two time zones, with exact UTC data intervals.

Europe/Amsterdam 2024: spring-forward 31 March 02:00 CET -> 03:00 CEST; fall-back
27 October 03:00 CEST -> 02:00 CET. America/New_York 2024: spring-forward 10 March
02:00 EST -> 03:00 EDT; fall-back 3 November 02:00 EDT -> 01:00 EST.
"""

from __future__ import annotations

import pendulum
import pytest

from dagflow.timetables import CronTimetable, DataInterval, TimeRestriction

from .conftest import utc


def chain(timetable: CronTimetable, start, count: int) -> list[DataInterval]:
    """``count`` consecutive automated intervals from ``start`` (catchup on)."""
    restriction = TimeRestriction(earliest=start, latest=None, catchup=True, now=utc(2030, 1, 1))
    intervals: list[DataInterval] = []
    last = None
    for _ in range(count):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        intervals.append(info.data_interval)
        last = info.data_interval
    return intervals


def starts(intervals: list[DataInterval]) -> list:
    return [i.start for i in intervals]


# --- a daily 02:30 job: the time is skipped in spring and repeated in autumn -------------
def test_amsterdam_daily_0230_spring_forward():
    daily = CronTimetable("30 2 * * *", "Europe/Amsterdam")
    intervals = chain(daily, utc(2024, 3, 30), 3)
    assert intervals == [
        DataInterval(utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 30)),  # 02:30 CET -> 03:30 CEST (shifted)
        DataInterval(utc(2024, 3, 31, 1, 30), utc(2024, 4, 1, 0, 30)),  # -> 02:30 CEST: 23 h
        DataInterval(utc(2024, 4, 1, 0, 30), utc(2024, 4, 2, 0, 30)),
    ]


def test_amsterdam_daily_0230_fall_back_runs_once_on_second_occurrence():
    daily = CronTimetable("30 2 * * *", "Europe/Amsterdam")
    intervals = chain(daily, utc(2024, 10, 26), 3)
    assert intervals == [
        DataInterval(utc(2024, 10, 26, 0, 30), utc(2024, 10, 27, 1, 30)),  # 25 h: 02:30 CET, not CEST
        DataInterval(utc(2024, 10, 27, 1, 30), utc(2024, 10, 28, 1, 30)),
        DataInterval(utc(2024, 10, 28, 1, 30), utc(2024, 10, 29, 1, 30)),
    ]


def test_new_york_daily_0230_spring_forward():
    daily = CronTimetable("30 2 * * *", "America/New_York")
    intervals = chain(daily, utc(2024, 3, 9), 3)
    assert intervals == [
        DataInterval(utc(2024, 3, 9, 7, 30), utc(2024, 3, 10, 7, 30)),  # 02:30 EST -> 03:30 EDT (shifted)
        DataInterval(utc(2024, 3, 10, 7, 30), utc(2024, 3, 11, 6, 30)),  # -> 02:30 EDT: 23 h
        DataInterval(utc(2024, 3, 11, 6, 30), utc(2024, 3, 12, 6, 30)),
    ]


def test_new_york_daily_0130_fall_back_runs_once_on_second_occurrence():
    daily = CronTimetable("30 1 * * *", "America/New_York")
    intervals = chain(daily, utc(2024, 11, 2), 3)
    assert intervals == [
        DataInterval(utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 6, 30)),  # 01:30 EDT -> 01:30 EST: 25 h
        DataInterval(utc(2024, 11, 3, 6, 30), utc(2024, 11, 4, 6, 30)),
        DataInterval(utc(2024, 11, 4, 6, 30), utc(2024, 11, 5, 6, 30)),
    ]


def test_daily_midnight_keeps_local_midnight():
    daily = CronTimetable("@daily", "America/New_York")
    intervals = chain(daily, utc(2024, 11, 2), 3)
    assert starts(intervals) == [utc(2024, 11, 2, 4), utc(2024, 11, 3, 4), utc(2024, 11, 4, 5)]


# --- an hourly job: every real hour exactly once ----------------------------------------
@pytest.mark.parametrize("expression", ["@hourly", "0 * * * *"])
def test_amsterdam_hourly_spring_forward_loses_no_real_hour(expression):
    hourly = CronTimetable(expression, "Europe/Amsterdam")
    intervals = chain(hourly, utc(2024, 3, 30, 23), 4)  # 00:00 CET
    assert starts(intervals) == [utc(2024, 3, 30, 23), utc(2024, 3, 31, 0), utc(2024, 3, 31, 1), utc(2024, 3, 31, 2)]
    local = [i.start.in_timezone("Europe/Amsterdam").strftime("%H:%M%z") for i in intervals]
    assert local == ["00:00+0100", "01:00+0100", "03:00+0200", "04:00+0200"]
    assert all(i.end - i.start == pendulum.duration(hours=1) for i in intervals)


def test_amsterdam_hourly_fall_back_runs_the_repeated_hour_twice_on_the_wall_clock():
    hourly = CronTimetable("@hourly", "Europe/Amsterdam")
    intervals = chain(hourly, utc(2024, 10, 26, 23), 4)  # 01:00 CEST
    assert starts(intervals) == [
        utc(2024, 10, 26, 23),
        utc(2024, 10, 27, 0),
        utc(2024, 10, 27, 1),
        utc(2024, 10, 27, 2),
    ]
    local = [i.start.in_timezone("Europe/Amsterdam").strftime("%H:%M%z") for i in intervals]
    assert local == ["01:00+0200", "02:00+0200", "02:00+0100", "03:00+0100"]
    assert all(i.end - i.start == pendulum.duration(hours=1) for i in intervals)


def test_new_york_hourly_across_both_changes():
    hourly = CronTimetable("30 * * * *", "America/New_York")
    spring = chain(hourly, utc(2024, 3, 10, 5), 4)  # 00:30 EST onwards
    assert starts(spring) == [
        utc(2024, 3, 10, 5, 30),
        utc(2024, 3, 10, 6, 30),
        utc(2024, 3, 10, 7, 30),
        utc(2024, 3, 10, 8, 30),
    ]
    fall = chain(hourly, utc(2024, 11, 3, 4), 4)  # 00:30 EDT onwards
    assert starts(fall) == [
        utc(2024, 11, 3, 4, 30),
        utc(2024, 11, 3, 5, 30),
        utc(2024, 11, 3, 6, 30),
        utc(2024, 11, 3, 7, 30),
    ]


def test_every_hour_with_day_restriction_keeps_wall_clock_over_a_dst_weekend():
    """Weekday-hourly: Friday 23:00 -> Monday 00:00 local, whatever DST did on Sunday."""
    weekday_hourly = CronTimetable("0 * * * 1-5", "Europe/Amsterdam")
    friday_2300 = pendulum.datetime(2024, 3, 29, 23, tz="Europe/Amsterdam")
    monday = weekday_hourly.next_after(friday_2300)
    assert monday == pendulum.datetime(2024, 4, 1, 0, tz="Europe/Amsterdam")
    assert weekday_hourly.prev_before(monday) == friday_2300


# --- from arbitrary instants inside the odd hours -----------------------------------------
def test_next_and_prev_from_inside_the_repeated_hour():
    half_hourly = CronTimetable("0,30 * * * *", "Europe/Amsterdam")
    first_0215 = utc(2024, 10, 27, 0, 15)  # 02:15 CEST
    assert half_hourly.next_after(first_0215) == utc(2024, 10, 27, 0, 30)  # 02:30 CEST
    assert half_hourly.prev_before(first_0215) == utc(2024, 10, 27, 0, 0)
    second_0215 = utc(2024, 10, 27, 1, 15)  # 02:15 CET
    assert half_hourly.next_after(second_0215) == utc(2024, 10, 27, 1, 30)
    assert half_hourly.prev_before(second_0215) == utc(2024, 10, 27, 1, 0)


def test_daily_next_from_first_occurrence_of_repeated_time():
    daily = CronTimetable("15 2 * * *", "Europe/Amsterdam")
    first_0230 = utc(2024, 10, 27, 0, 30)  # 02:30 CEST, before the 02:15 CET run
    assert daily.next_after(first_0230) == utc(2024, 10, 27, 1, 15)


def test_manual_interval_on_spring_forward_day():
    daily = CronTimetable("30 2 * * *", "Europe/Amsterdam")
    run_after = pendulum.datetime(2024, 3, 31, 12, tz="Europe/Amsterdam")
    assert daily.infer_manual_data_interval(run_after) == DataInterval(utc(2024, 3, 30, 1, 30), utc(2024, 3, 31, 1, 30))


def test_catchup_off_on_fall_back_day():
    hourly = CronTimetable("@hourly", "Europe/Amsterdam")
    now = utc(2024, 10, 27, 1, 20)  # 02:20 CET, second pass of the repeated hour
    restriction = TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=False, now=now)
    info = hourly.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert info.data_interval == DataInterval(utc(2024, 10, 27, 0), utc(2024, 10, 27, 1))


TRANSITIONS_2024 = {
    "Europe/Amsterdam": [utc(2024, 3, 31, 1), utc(2024, 10, 27, 1)],
    "America/New_York": [utc(2024, 3, 10, 7), utc(2024, 11, 3, 6)],
    "Australia/Lord_Howe": [utc(2024, 4, 6, 15), utc(2024, 10, 5, 16)],  # 30-minute shifts
}


@pytest.mark.parametrize("zone", sorted(TRANSITIONS_2024))
@pytest.mark.parametrize(
    ("expression", "days"),
    [("@hourly", 2), ("*/20 * * * *", 1), ("30 2 * * *", 20), ("0 1,2,3 * * *", 10), ("@daily", 20)],
)
def test_backfill_matches_the_scheduler_chain_around_dst(zone, expression, days):
    """iter_intervals and next_dagrun_info agree; intervals are contiguous and never empty."""
    timetable = CronTimetable(expression, zone)
    for transition in TRANSITIONS_2024[zone]:
        start, end = transition.subtract(days=days), transition.add(days=days)
        backfill = list(timetable.iter_intervals(start, end))
        assert backfill == chain(timetable, start, len(backfill))
        assert all(a.end == b.start and a.start < a.end for a, b in zip(backfill, backfill[1:]))
