"""Operators that reach the running system through the runtime backend."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest

from dagflow.exceptions import DagRunAlreadyExists, DatabaseError, FailTask, SkipTask, TaskRescheduled
from dagflow.operators import ApprovalOperator, TriggerDagRunOperator
from dagflow.sdk import runtime
from dagflow.state import DagRunTriggeredByType
from dagflow.state_store import state_store
from tests.unit.sdk.conftest import FakeBackend


def run(op: Any, make_ctx: Any, **extra: Any) -> Any:
    op = op.prepare_for_execution()
    ctx = make_ctx(op, **extra)
    op.render_template_fields(ctx)
    return op.execute(ctx)


def test_trigger_dag_run(make_ctx: Any, backend: FakeBackend) -> None:
    op = TriggerDagRunOperator(
        task_id="trig",
        trigger_dag_id="target",
        conf={"day": "{{ ds }}"},
        logical_date="{{ ds }}T06:00:00+00:00",
        trigger_run_id="child__{{ ds_nodash }}",
    )
    assert run(op, make_ctx) == "child__20240305"
    sent = backend.triggered[0]
    assert sent["dag_id"] == "target" and sent["conf"] == {"day": "2024-03-05"}
    assert sent["logical_date"] == pendulum.datetime(2024, 3, 5, 6, tz="UTC")
    assert backend.xcoms[("trig", -1, "trigger_run_id")] == "child__20240305"


def test_trigger_and_wait(make_ctx: Any, backend: FakeBackend) -> None:
    backend.run_states[("target", "r1")] = "failed"
    op = TriggerDagRunOperator(task_id="w", trigger_dag_id="target", trigger_run_id="r1", wait_for_completion=True,
                               poke_interval=0.01)  # fmt: skip
    with pytest.raises(RuntimeError, match="ended failed"):
        run(op, make_ctx)
    ok = TriggerDagRunOperator(task_id="ok", trigger_dag_id="target", wait_for_completion=True, poke_interval=0.01)
    assert run(ok, make_ctx).startswith("manual__")


def test_waiting_for_a_triggered_run_fails_at_once_under_dags_test(make_ctx: Any, backend: FakeBackend) -> None:
    op = TriggerDagRunOperator(task_id="w", trigger_dag_id="target", trigger_run_id="r9", wait_for_completion=True)
    with pytest.raises(FailTask, match=r"`dags test` runs only its own DAG run, so target run r9 would never run"):
        run(op, make_ctx, dag_run=SimpleNamespace(triggered_by=DagRunTriggeredByType.TEST, conf={}))
    assert backend.triggered[-1]["run_id"] == "r9"  # triggered all the same, as asked


def test_trigger_of_an_existing_run_skips_resets_or_fails_as_asked(make_ctx: Any, backend: FakeBackend) -> None:
    first = TriggerDagRunOperator(task_id="first", trigger_dag_id="target", trigger_run_id="r1")
    assert run(first, make_ctx) == "r1"
    skip = TriggerDagRunOperator(
        task_id="skip", trigger_dag_id="target", trigger_run_id="r1", skip_when_already_exists=True
    )
    with pytest.raises(SkipTask, match="skip_when_already_exists"):
        run(skip, make_ctx)
    reset = TriggerDagRunOperator(task_id="reset", trigger_dag_id="target", trigger_run_id="r1", reset_dag_run=True)
    assert run(reset, make_ctx) == "r1"
    assert backend.resets == [("target", "r1")]
    again = TriggerDagRunOperator(task_id="again", trigger_dag_id="target", trigger_run_id="r1")
    with pytest.raises(DagRunAlreadyExists):
        run(again, make_ctx)


def test_approval(make_ctx: Any, backend: FakeBackend) -> None:
    op = ApprovalOperator(task_id="approve", message="ship {{ ds }}?")
    assert op.mode == "reschedule"
    with pytest.raises(TaskRescheduled):
        run(op, make_ctx)
    backend.decisions["approve"] = ("approved", "looks good")
    assert run(op, make_ctx) == {"decision": "approved", "comment": "looks good"}
    backend.decisions["approve"] = ("rejected", "no")
    with pytest.raises(FailTask, match="rejected: no"):
        run(op, make_ctx)


def test_approval_timeout(make_ctx: Any, backend: FakeBackend) -> None:
    op = ApprovalOperator(task_id="late", timeout="PT1M", soft_fail=False)
    long_ago = pendulum.now("UTC").subtract(minutes=5)
    with pytest.raises(FailTask, match="timed out"):
        run(op, make_ctx, first_poke_at=long_ago)


def test_state_store_delegates_to_runtime(backend: FakeBackend) -> None:
    assert state_store.get("k", default=5) == 5
    state_store.set("k", {"rows": 1}, namespace="ns")
    assert state_store.get("k", namespace="ns") == {"rows": 1}
    assert backend.store[("ns", "k")] == {"rows": 1}
    state_store.delete("k", namespace="ns")
    assert state_store.get("k", namespace="ns") is None
    with pytest.raises(ValueError):
        state_store.set("", 1)


def test_state_store_versions_go_through_the_runtime(backend: FakeBackend) -> None:
    assert state_store.set("k", 1, expected_version=0) == 1
    assert state_store.get_versioned("k") == (1, 1)
    assert state_store.list(prefix="k") == ["k"]


def test_state_store_outside_a_task_needs_a_migrated_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.install(None)
    monkeypatch.setenv("DAGFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("DAGFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    with pytest.raises(DatabaseError, match="dagflow db migrate"):
        state_store.get("k")
