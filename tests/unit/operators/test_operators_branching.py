from __future__ import annotations

from typing import Any

import pendulum
import pytest

from dagflow import DAG, TaskGroup
from dagflow.exceptions import DagDefinitionError
from dagflow.operators import (
    BranchPythonOperator,
    EmptyOperator,
    LatestOnlyOperator,
    ShortCircuitOperator,
    SwitchOperator,
)
from dagflow.sdk.branch import BRANCH_XCOM_KEY
from tests.unit.sdk.conftest import FakeBackend


def run(op: Any, make_ctx: Any, **extra: Any) -> Any:
    """Render a copy (as the runner does, so the parsed task keeps its templates) and execute it."""
    op = op.prepare_for_execution()
    ctx = make_ctx(op, **extra)
    op.render_template_fields(ctx)
    return op.execute(ctx)


def decision(backend: FakeBackend, task_id: str) -> Any:
    return backend.xcoms.get((task_id, -1, BRANCH_XCOM_KEY))


def test_branch_python_records_followed(make_ctx: Any, backend: FakeBackend) -> None:
    with DAG("br"):
        choose = BranchPythonOperator(task_id="choose", python_callable=lambda: ["b", "a"])
        choose >> [EmptyOperator(task_id=t) for t in "abc"]
        none = BranchPythonOperator(task_id="none", python_callable=lambda: None)
        none >> EmptyOperator(task_id="d")
    assert run(choose, make_ctx) == ["b", "a"]
    assert decision(backend, "choose") == {"followed": ["a", "b"]}
    run(none, make_ctx)
    assert decision(backend, "none") == {"followed": []}


def test_branch_to_task_group_follows_its_roots(make_ctx: Any, backend: FakeBackend) -> None:
    with DAG("brg"):
        choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "grp")
        with TaskGroup("grp") as grp:
            first = EmptyOperator(task_id="first")
            first >> EmptyOperator(task_id="second")
        choose >> [grp, EmptyOperator(task_id="other")]
    run(choose, make_ctx)
    assert decision(backend, "choose") == {"followed": ["grp.first"]}


def test_branch_to_a_task_that_is_not_downstream_fails(make_ctx: Any) -> None:
    with DAG("bad"):
        choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "far")
        near = EmptyOperator(task_id="near")
        choose >> near >> EmptyOperator(task_id="far")
    with pytest.raises(DagDefinitionError, match="'far', which is not one of its direct downstream tasks \\(near\\)"):
        run(choose, make_ctx)


def test_short_circuit_operator(make_ctx: Any, backend: FakeBackend) -> None:
    with DAG("sc"):
        stop = ShortCircuitOperator(task_id="stop", python_callable=lambda: 0)
        soft = ShortCircuitOperator(
            task_id="soft", python_callable=lambda: False, ignore_downstream_trigger_rules=False
        )
        go = ShortCircuitOperator(task_id="go", python_callable=lambda: True)
        for op in (stop, soft, go):
            op >> EmptyOperator(task_id=f"{op.task_id}_next")
    run(stop, make_ctx)
    run(soft, make_ctx)
    assert run(go, make_ctx) is True
    assert decision(backend, "stop") == {"followed": [], "all_descendants": True}
    assert decision(backend, "soft") == {"followed": []}
    assert decision(backend, "go") is None


def test_switch_operator(make_ctx: Any, backend: FakeBackend) -> None:
    with DAG("sw", params={"env": "dev", "n": 2}):
        switch = SwitchOperator(
            task_id="switch",
            value="{{ params.env }}",
            cases={"prod": "deploy_prod", "dev": ["deploy_dev", "notify"]},
            default="deploy_none",
        )
        by_number = SwitchOperator(task_id="num", value="{{ params.n }}", cases={1: "one", 2: "two"})
        no_match = SwitchOperator(task_id="nomatch", value="zzz", cases={"a": "x"})
        switch >> [EmptyOperator(task_id=t) for t in ("deploy_prod", "deploy_dev", "notify", "deploy_none")]
        by_number >> [EmptyOperator(task_id="one"), EmptyOperator(task_id="two")]
        no_match >> EmptyOperator(task_id="x")
    assert run(switch, make_ctx) == "dev"
    assert decision(backend, "switch") == {"followed": ["deploy_dev", "notify"]}
    run(switch, make_ctx, params={"env": "qa"})
    assert decision(backend, "switch") == {"followed": ["deploy_none"]}
    run(by_number, make_ctx)
    assert decision(backend, "num") == {"followed": ["two"]}
    run(no_match, make_ctx)
    assert decision(backend, "nomatch") == {"followed": []}
    with pytest.raises(DagDefinitionError, match="cases"):
        SwitchOperator(task_id="empty", value="x", cases={})


def test_latest_only(make_ctx: Any, backend: FakeBackend) -> None:
    class Run:
        def __init__(self, run_type: str) -> None:
            self.run_type = run_type

    with DAG("lo", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1)):
        latest = LatestOnlyOperator(task_id="latest")
        latest >> EmptyOperator(task_id="after")
    old_start = pendulum.datetime(2024, 1, 1, tz="UTC")
    old = {"data_interval_start": old_start, "data_interval_end": old_start.add(days=1)}
    run(latest, make_ctx, dag_run=Run("scheduled"), **old)
    assert decision(backend, "latest") == {"followed": []}
    backend.xcoms.clear()
    run(latest, make_ctx, dag_run=Run("manual"), **old)
    assert decision(backend, "latest") is None
    now = pendulum.now("UTC")
    today = now.start_of("day")
    current = {"data_interval_start": today.subtract(days=1), "data_interval_end": today}
    run(latest, make_ctx, dag_run=Run("scheduled"), **current)
    assert decision(backend, "latest") is None


def test_base_branch_operator(make_ctx: Any, backend: FakeBackend) -> None:
    from dagflow.operators import BaseBranchOperator

    class Weekday(BaseBranchOperator):
        def choose_branch(self, context: Any) -> str:
            return "weekday" if context["logical_date"].weekday() < 5 else "weekend"

    with DAG("bb"):
        op = Weekday(task_id="which")
        op >> [EmptyOperator(task_id="weekday"), EmptyOperator(task_id="weekend")]
    assert run(op, make_ctx) == "weekday"  # 2024-03-05 is a Tuesday
    assert decision(backend, "which") == {"followed": ["weekday"]}
