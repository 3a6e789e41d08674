"""SDK features Airflow DAG files use: each checked by running a DAG through the real scheduler loop.

The tasks assert on what they receive, so a wrong value fails the task and the run.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
import pytest

from dagflow.db import Database
from dagflow.exceptions import DagDefinitionError
from dagflow.operators import BashOperator, BranchDateTimeOperator, BranchDayOfWeekOperator, EmptyOperator
from dagflow.sdk import DAG, chain_linear, task, task_group
from dagflow.sdk.current_context import NoCurrentContext, get_current_context
from dagflow.sdk.decorators import setup, teardown
from dagflow.sdk.edges import Label
from dagflow.sdk.weekday import WeekDay
from dagflow.testing import FrozenClock, run_dag

# A Tuesday.
LOGICAL_DATE = pendulum.datetime(2026, 12, 1, 10, 30, tz="UTC")
START = pendulum.datetime(2026, 1, 1, tz="UTC")


def _features_dag() -> DAG:
    with DAG("airflow_features", schedule=None, start_date=START) as dag:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def letters() -> list[str]:
            return ["a", "b"]

        @task
        def check_pair(pair: tuple[int, str]) -> None:
            assert tuple(pair) in {(1, "a"), (2, "b")}, pair

        @task
        def check_double(value: int) -> int:
            assert value in (10, 20, 30), value
            return value

        @task
        def check_kwargs(x: int, y: int) -> None:
            assert y == x * 2, (x, y)

        @task
        def context_user() -> None:
            context = get_current_context()
            assert context["ti"].task_id == "context_user"
            assert context["ds"] == "2026-12-01"

        @task_group
        def per_number(n: int) -> None:
            @task
            def add_one(value: int) -> int:
                return value + 1

            @task
            def times_ten(value: int) -> int:
                assert value in (2, 3, 4), value  # this copy's own add_one value, not the list
                return value * 10

            times_ten(add_one(n))

        @task
        def check_group_output(values: list[int]) -> None:
            assert sorted(values) == [20, 30, 40], values

        nums, lets = numbers(), letters()
        check_pair.expand(pair=nums.zip(lets))
        check_double.expand(value=nums.map(lambda v: v * 10))
        check_kwargs.expand_kwargs([{"x": 1, "y": 2}, {"x": 3, "y": 6}])
        context_user()
        group = per_number.expand(n=nums)  # type: ignore[attr-defined]
        check_group_output(dag.task_dict["per_number.times_ten"].output)
        group >> dag.task_dict["check_group_output"]

        weekday = BranchDayOfWeekOperator(
            task_id="weekday",
            follow_task_ids_if_true="on_tuesday",
            follow_task_ids_if_false="other_day",
            week_day={WeekDay.TUESDAY},
            use_task_logical_date=True,
        )
        window = BranchDateTimeOperator(
            task_id="window",
            follow_task_ids_if_true="in_window",
            follow_task_ids_if_false="out_of_window",
            target_lower=dt.time(10, 0),
            target_upper=dt.time(11, 0),
            use_task_logical_date=True,
        )
        weekday >> Label("Tuesday") >> EmptyOperator(task_id="on_tuesday")
        weekday >> Label("any other day") >> EmptyOperator(task_id="other_day")
        window >> [EmptyOperator(task_id="in_window"), EmptyOperator(task_id="out_of_window")]
        BashOperator(
            task_id="templated",
            bash_command='test "{{ task_instance_key_str }}" = airflow_features__templated__20261201 '
            '&& test "{{ yesterday_ds }}" = 2026-11-30',
        )
    return dag


def test_airflow_features_run_as_in_airflow(db: Database) -> None:
    dag = _features_dag()
    assert dag.get_edge_info("weekday", "on_tuesday") == {"label": "Tuesday"}
    report = run_dag(dag, db=db, logical_date=LOGICAL_DATE, clock=FrozenClock(LOGICAL_DATE))
    states = report.task_states
    assert states["check_pair"] == ["success", "success"]
    assert states["check_double"] == ["success"] * 3
    assert states["check_kwargs"] == ["success", "success"]
    assert states["per_number.add_one"] == ["success"] * 3
    assert states["per_number.times_ten"] == ["success"] * 3
    assert states["check_group_output"] == "success"
    assert states["context_user"] == "success"
    assert (states["on_tuesday"], states["other_day"]) == ("success", "skipped")
    assert (states["in_window"], states["out_of_window"]) == ("success", "skipped")
    assert states["templated"] == "success"
    assert report.state == "success"


def _setup_teardown_dag(work_fails: bool, teardown_fails: bool, fail_dagrun: bool = False) -> DAG:
    with DAG(f"setup_teardown_{work_fails}_{teardown_fails}", schedule=None, start_date=START) as dag:

        @setup
        def create_cluster() -> str:
            return "cluster-1"

        @task
        def work() -> None:
            if work_fails:
                raise RuntimeError("work failed")

        @teardown(on_failure_fail_dagrun=fail_dagrun)
        def delete_cluster(cluster_id: str) -> None:
            assert cluster_id == "cluster-1"
            if teardown_fails:
                raise RuntimeError("teardown failed")

        with delete_cluster(create_cluster()):
            work()
    return dag


@pytest.mark.parametrize(
    ("work_fails", "teardown_fails", "fail_dagrun", "expected"),
    [
        (True, False, False, ("failed", "success", "failed")),  # the teardown runs after a failure
        (False, True, False, ("success", "failed", "success")),  # a failed teardown does not fail the run
        (False, True, True, ("success", "failed", "failed")),  # ... unless on_failure_fail_dagrun
    ],
)
def test_teardown_runs_after_its_setup_and_does_not_decide_the_run(
    db: Database, work_fails: bool, teardown_fails: bool, fail_dagrun: bool, expected: tuple[str, str, str]
) -> None:
    dag = _setup_teardown_dag(work_fails, teardown_fails, fail_dagrun)
    assert dag.task_dict["create_cluster"].is_setup and dag.task_dict["delete_cluster"].is_teardown
    assert dag.task_dict["work"].upstream_task_ids == {"create_cluster"}
    assert dag.task_dict["delete_cluster"].upstream_task_ids == {"create_cluster", "work"}
    report = run_dag(dag, db=db, logical_date=LOGICAL_DATE, clock=FrozenClock(LOGICAL_DATE))
    states = report.task_states
    assert (states["work"], states["delete_cluster"], report.state) == expected


def test_get_current_context_outside_a_task_is_a_clear_error() -> None:
    with pytest.raises(NoCurrentContext, match="only while a task runs"):
        get_current_context()


def test_chain_linear_wires_every_node_to_every_next_one() -> None:
    with DAG("linear", schedule=None, start_date=START) as dag:
        a, b, c, d = (EmptyOperator(task_id=t) for t in "abcd")
        chain_linear(a, [b, c], d)
    assert dag.task_dict["a"].downstream_task_ids == {"b", "c"}
    assert dag.task_dict["d"].upstream_task_ids == {"b", "c"}


def test_task_and_asset_state_survive_across_tries_and_tasks(db: Database) -> None:
    from dagflow.sdk.assets import Asset

    orders = Asset("s3://warehouse/orders")
    with DAG("state_stores", schedule=None, start_date=START) as dag:

        @task(retries=1, retry_delay=0)
        def submit(task_state_store: Any = None, ti: Any = None) -> str:
            job = task_state_store.get("job_id")
            if ti.try_number == 1:
                assert job is None
                task_state_store.set("job_id", "job-1")
                raise RuntimeError("lost the worker after submitting")
            assert job == "job-1", job  # the retry reattaches
            return str(job)

        @task(outlets=[orders])
        def load(asset_state_store: Any = None) -> None:
            asset_state_store[orders].set("watermark", "2026-12-01")

        @task(inlets=[orders])
        def read(asset_state_store: Any = None) -> None:
            assert asset_state_store.get("watermark") == "2026-12-01"  # the only asset: no subscript needed

        submit()
        load() >> read()
    report = run_dag(dag, db=db, logical_date=LOGICAL_DATE, clock=FrozenClock(LOGICAL_DATE))
    assert report.ti("submit")["try_number"] == 2
    assert report.task_states == {"submit": "success", "load": "success", "read": "success"}


def test_dag_test_runs_the_dag_in_the_configured_home(
    tmp_path: Path, migrate_home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = migrate_home(tmp_path / "home")
    monkeypatch.setenv("DAGFLOW_HOME", str(home))
    dag = _setup_teardown_dag(work_fails=True, teardown_fails=False)
    report = dag.test(logical_date=LOGICAL_DATE)
    assert report.state == "failed"
    assert report.task_states == {"create_cluster": "success", "work": "failed", "delete_cluster": "success"}
    with pytest.raises(DagDefinitionError, match="does not support use_executor"):
        dag.test(use_executor=True)
