"""``core.default_timezone`` in the SDK: the zone naive DAG dates are read in (UTC unless set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pendulum
import pytest

from dagflow import DAG
from dagflow.config import load_settings
from dagflow.exceptions import ConfigError, DagDefinitionError
from dagflow.sdk.timezone import default_timezone, set_default_timezone
from dagflow.timetables import DataInterval, TimeRestriction


@pytest.fixture
def paris() -> Iterator[None]:
    set_default_timezone("Europe/Paris")
    yield
    set_default_timezone("UTC")


def test_utc_is_the_default() -> None:
    assert default_timezone().name == "UTC"
    naive = DAG("naive", start_date=datetime(2024, 1, 1))
    assert naive.timezone.name == "UTC"
    assert naive.start_date == pendulum.datetime(2024, 1, 1, tz="UTC")


@pytest.mark.usefixtures("paris")
def test_naive_dates_are_read_in_the_default_timezone_which_becomes_the_dags() -> None:
    d = DAG("d", schedule="0 0 * * *", start_date=datetime(2024, 1, 1), end_date=datetime(2024, 7, 1))
    assert d.timezone.name == "Europe/Paris"
    assert d.start_date == pendulum.datetime(2023, 12, 31, 23, tz="UTC")
    assert d.end_date == pendulum.datetime(2024, 6, 30, 22, tz="UTC")  # summer time
    restriction = TimeRestriction(earliest=d.start_date, latest=None, catchup=True)
    first = d.timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first is not None
    assert first.data_interval == DataInterval(
        pendulum.datetime(2023, 12, 31, 23, tz="UTC"), pendulum.datetime(2024, 1, 1, 23, tz="UTC")
    )
    summer = d.timetable.next_dagrun_info(
        last_automated_data_interval=DataInterval(
            pendulum.datetime(2024, 6, 30, 22, tz="UTC"), pendulum.datetime(2024, 7, 1, 22, tz="UTC")
        ),
        restriction=restriction,
    )
    assert summer is not None and summer.data_interval.end == pendulum.datetime(2024, 7, 2, 22, tz="UTC")


@pytest.mark.usefixtures("paris")
def test_an_aware_start_date_keeps_its_own_zone() -> None:
    tokyo = DAG("tokyo", start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Tokyo"))
    assert tokyo.timezone.name == "Asia/Tokyo"
    assert tokyo.start_date == pendulum.datetime(2023, 12, 31, 15, tz="UTC")
    fixed = DAG("fixed", start_date=datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2))))
    assert fixed.start_date == pendulum.datetime(2023, 12, 31, 22, tz="UTC")
    utc = DAG("utc", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"))
    assert utc.timezone.name == "UTC"


@pytest.mark.usefixtures("paris")
def test_start_date_from_default_args_is_read_in_the_default_timezone() -> None:
    d = DAG("d", default_args={"start_date": datetime(2024, 2, 1)})
    assert d.timezone.name == "Europe/Paris"
    assert d.start_date == pendulum.datetime(2024, 1, 31, 23, tz="UTC")


def test_system_means_the_local_zone_and_a_bad_name_is_refused() -> None:
    try:
        assert set_default_timezone("system") == pendulum.local_timezone()
    finally:
        set_default_timezone("UTC")
    with pytest.raises(DagDefinitionError, match="Mars/Olympus"):
        set_default_timezone("Mars/Olympus")
    assert default_timezone().name == "UTC"


def test_config_checks_the_zone_at_load(tmp_path: Path) -> None:
    env = {"DAGFLOW_HOME": str(tmp_path)}
    assert load_settings(env).core.default_timezone == "UTC"
    assert load_settings({**env, "DAGFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Paris"}).core.default_timezone == (
        "Europe/Paris"
    )
    with pytest.raises(ConfigError) as err:
        load_settings({**env, "DAGFLOW__CORE__DEFAULT_TIMEZONE": "Mars/Olympus"})
    assert str(err.value).startswith("core.default_timezone: unknown time zone 'Mars/Olympus'")
    assert "\n" not in str(err.value)
