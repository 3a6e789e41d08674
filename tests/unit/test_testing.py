"""``dagflow.testing``: FrozenClock, run_dag (the ``dags test`` path under a clock of the test's), make_dag."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import DagRun
from dagflow.scheduler.clock import MAX_NAP, MIN_NAP, wait_until
from dagflow.testing import FrozenClock, InlineExecutor, RunReport, make_dag, run_dag

T0 = pendulum.datetime(2024, 5, 1, 12, 0, tz="UTC")


# --- FrozenClock ----------------------------------------------------------------------------
def test_frozen_clock_stands_still_and_is_utc() -> None:
    clock = FrozenClock(T0)
    first = clock()
    time.sleep(0.01)
    assert clock() == first == T0
    assert isinstance(first, pendulum.DateTime)
    assert first.utcoffset() == timedelta(0)


def test_frozen_clock_defaults_to_now() -> None:
    before = pendulum.now("UTC")
    clock = FrozenClock()
    assert before <= clock() <= pendulum.now("UTC")


def test_frozen_clock_advance_by_delta_or_keywords() -> None:
    clock = FrozenClock(T0)
    assert clock.advance(minutes=5) == T0 + timedelta(minutes=5)
    assert clock.advance(timedelta(hours=1), seconds=30) == T0 + timedelta(hours=1, minutes=5, seconds=30)
    assert clock() == T0 + timedelta(hours=1, minutes=5, seconds=30)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(seconds=-1)


def test_frozen_clock_set_reads_naive_as_utc_and_converts_other_zones() -> None:
    clock = FrozenClock(T0)
    assert clock.set(datetime(2030, 1, 2, 3, 4)) == pendulum.datetime(2030, 1, 2, 3, 4, tz="UTC")
    paris = pendulum.datetime(2030, 6, 1, 14, 0, tz="Europe/Paris")
    assert clock.set(paris) == pendulum.datetime(2030, 6, 1, 12, 0, tz="UTC")
    assert clock().timezone_name == "UTC"
    assert FrozenClock(datetime(2024, 1, 1, tzinfo=UTC))() == pendulum.datetime(2024, 1, 1, tz="UTC")


def test_waiting_on_a_frozen_clock_moves_it_without_sleeping() -> None:
    clock = FrozenClock(T0)
    started = time.monotonic()
    wait_until(clock, T0 + timedelta(days=1))
    assert clock() == T0 + timedelta(days=1)
    wait_until(clock, T0)  # due already: time still moves a little, so a loop cannot spin in place
    assert clock() == T0 + timedelta(days=1, seconds=MIN_NAP)
    assert time.monotonic() - started < 0.5


def test_waiting_on_the_wall_clock_sleeps_at_most_max_nap() -> None:
    started = time.monotonic()
    wait_until(lambda: pendulum.now("UTC"), pendulum.now("UTC") + timedelta(hours=1), max_nap=0.2)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < MAX_NAP


# --- run_dag ------------------------------------------------------------------------------
def _fails_on_first_try(**context: Any) -> str:
    if context["try_number"] == 1:
        raise RuntimeError("first try fails")
    return "ok"


@pytest.mark.timeout(120)
def test_run_dag_waits_out_a_retry_delay_on_a_frozen_clock_without_sleeping(db: Database) -> None:
    dag = make_dag(
        "flaky",
        [("extract", "load")],
        callables={"extract": _fails_on_first_try},
        default_args={"retries": 1, "retry_delay": timedelta(hours=6)},
    )
    clock = FrozenClock()
    start = clock()
    started = time.monotonic()

    report = run_dag(dag, db=db, clock=clock)

    assert report.state == "success"
    assert report.task_states == {"extract": "success", "load": "success"}
    assert report.ti("extract")["try_number"] == 2
    assert report.ti("load")["try_number"] == 1
    assert clock() - start >= timedelta(hours=6)  # the scheduler waited the delay out on the clock...
    assert time.monotonic() - started < 60  # ...without sleeping it


def test_run_dag_without_settings_uses_a_throwaway_home() -> None:
    dag = make_dag("solo", [("a", "b")], callables={"a": lambda: 1})

    report = run_dag(dag, logical_date=T0, conf={"k": "v"})

    assert isinstance(report, RunReport)
    assert (report.dag_id, report.state) == ("solo", "success")
    assert report.run_id == "manual__2024-05-01T12:00:00+00:00"
    assert report.document["conf"] == {"k": "v"}
    assert [(row["task_id"], row["state"]) for row in report.task_instances] == [("a", "success"), ("b", "success")]


def test_run_dag_writes_the_run_to_the_db_given_and_reports_a_failure(db: Database) -> None:
    def boom() -> None:
        raise ValueError("no")

    dag = make_dag("broken", [("a", "b")], callables={"a": boom})

    report = run_dag(dag, db=db, logical_date=T0)

    assert report.state == "failed"
    assert report.task_states == {"a": "failed", "b": "upstream_failed"}
    assert "ValueError" in (report.ti("a")["end_reason"] or "")
    with db.transaction() as session:
        states = session.execute(sa.select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == "broken")).all()
    assert [(run_id, state.value) for run_id, state in states] == [(report.run_id, "failed")]
    with pytest.raises(KeyError, match="no task instance 'c'"):
        report.ti("c")


def test_run_dag_reports_mapped_task_instances_by_index(db: Database) -> None:
    from dagflow import DAG, task

    with DAG("mapped", schedule=None, start_date=T0) as dag:

        @task
        def double(x: int) -> int:
            return 2 * x

        double.expand(x=[1, 2, 3])

    report = run_dag(dag, db=db)

    assert report.task_states == {"double": ["success", "success", "success"]}
    assert report.ti("double", map_index=2)["state"] == "success"


def test_dag_callbacks_run_in_process(db: Database) -> None:
    calls: list[tuple[str, str, str]] = []

    def record(context: dict[str, Any]) -> None:
        calls.append((context["dag_run"].run_id, context["state"], context["reason"]))

    good = make_dag("good", [("a", "b")], on_success_callback=record, on_failure_callback=record)
    bad = make_dag("bad", callables={"a": lambda: 1 / 0}, on_failure_callback=[record, record])

    ok = run_dag(good, db=db, logical_date=T0)
    failed = run_dag(bad, db=db, logical_date=T0)

    assert calls == [
        (ok.run_id, "success", "success"),
        (failed.run_id, "failed", "task_failure"),
        (failed.run_id, "failed", "task_failure"),
    ]


def test_a_dag_callback_that_raises_changes_nothing(db: Database) -> None:
    def explode(context: dict[str, Any]) -> None:
        raise RuntimeError("callback bug")

    report = run_dag(make_dag("cb", [("a", "b")], on_success_callback=explode), db=db)

    assert report.state == "success"


# --- make_dag and the re-exports -----------------------------------------------------------
def test_make_dag_wires_edges_and_records_the_callers_file() -> None:
    dag = make_dag("wired", [("a", "b"), ("a", "c"), ("b", "d")], callables={"c": print}, tags=["x"])

    assert sorted(dag.task_dict) == ["a", "b", "c", "d"]
    assert dag.get_task("a").downstream_task_ids == {"b", "c"}
    assert type(dag.get_task("c")).__name__ == "PythonOperator"
    assert type(dag.get_task("a")).__name__ == "EmptyOperator"
    assert dag.schedule is None and dag.tags == ["x"]
    assert dag.fileloc == __file__


def test_inline_executor_is_the_real_one() -> None:
    from dagflow.executors.inline import InlineExecutor as Real

    assert InlineExecutor is Real
