"""``tasks clear|mark|approve`` through the CLI (unit level: states set by hand)."""

from __future__ import annotations

import sqlalchemy as sa

from dagflow.execution.backend import APPROVAL_KEY, DbRuntimeBackend
from dagflow.models import DagRun, TaskInstance, XCom, set_dagrun_state, set_ti_state
from dagflow.state import DagRunState, TaskInstanceState

TI = TaskInstanceState
PATH = [TI.SCHEDULED, TI.QUEUED, TI.RUNNING]


def _force(db, run_id: str, task_id: str, *states: TI, try_number: int | None = None) -> None:
    """Walk a task instance through ``states`` with the real transitions."""
    with db.transaction() as session:
        ti = session.scalar(
            sa.select(TaskInstance).where(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
        )
        current = ti.state
        for state in states:
            values = {"try_number": TaskInstance.try_number + 1} if state is TI.RUNNING else None
            assert set_ti_state(session, [ti.id], to=state, expected=[current], values=values) == 1
            current = state


def _finish_run(db, run_id: str, state: DagRunState) -> None:
    with db.transaction() as session:
        run = session.scalar(sa.select(DagRun).where(DagRun.run_id == run_id))
        set_dagrun_state(session, run.id, to=DagRunState.RUNNING, expected=[DagRunState.QUEUED])
        set_dagrun_state(session, run.id, to=state, expected=[DagRunState.RUNNING])


def _tis(db, run_id: str) -> dict[str, tuple[str, int, int]]:
    with db.transaction() as session:
        rows = session.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == run_id))
        return {t.task_id: (t.state.value, t.try_number, t.max_tries) for t in rows}


def _run_state(db, run_id: str) -> str:
    with db.transaction() as session:
        return session.scalar(sa.select(DagRun.state).where(DagRun.run_id == run_id)).value


def _failed_run(run_cli, db, run_id: str = "r1", date: str = "2024-01-01") -> None:
    assert run_cli("dags", "trigger", "cli_dag", "--run-id", run_id, "-l", date).exit_code == 0
    _force(db, run_id, "a", *PATH, TI.SUCCESS)
    _force(db, run_id, "b", *PATH, TI.FAILED)
    _force(db, run_id, "c", TI.UPSTREAM_FAILED)
    _force(db, run_id, "d", *PATH, TI.SUCCESS)
    _finish_run(db, run_id, DagRunState.FAILED)


def test_clear_without_yes_lists_and_refuses(run_cli, cli_db) -> None:
    _failed_run(run_cli, cli_db)
    result = run_cli("tasks", "clear", "cli_dag", "-t", "^b$", "-o", "plain")
    assert result.exit_code == 2 and "--yes" in result.stderr
    assert "r1\tb\t-1\tfailed\t1" in result.stdout
    assert _tis(cli_db, "r1")["b"][0] == "failed" and _run_state(cli_db, "r1") == "failed"


def test_clear_downstream_resets_tis_and_requeues_the_run(run_cli, cli_db) -> None:
    _failed_run(run_cli, cli_db)
    result = run_cli("tasks", "clear", "cli_dag", "-t", "^b$", "--downstream", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "Cleared 2 task instance(s)" in result.stdout
    # b: try 1 kept, max_tries = 1 + retries(1); c: never ran, max_tries = 0 + 0
    assert _tis(cli_db, "r1") == {
        "a": ("success", 1, 2),
        "b": ("none", 1, 2),
        "c": ("none", 0, 0),
        "d": ("success", 1, 0),
    }
    assert _run_state(cli_db, "r1") == "queued"


def test_clear_only_failed_and_date_range(run_cli, cli_db) -> None:
    _failed_run(run_cli, cli_db, "r1", "2024-01-01")
    _failed_run(run_cli, cli_db, "r2", "2024-01-05")
    result = run_cli(
        "tasks", "clear", "cli_dag", "--only-failed", "-s", "2024-01-04", "-e", "2024-01-06", "--yes", "-o", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert sorted((r["run_id"], r["task_id"]) for r in result.json()) == [("r2", "b"), ("r2", "c")]
    assert _tis(cli_db, "r1")["b"][0] == "failed" and _run_state(cli_db, "r1") == "failed"
    assert _run_state(cli_db, "r2") == "queued"


def test_clear_upstream_and_running_goes_to_restarting(run_cli, cli_db) -> None:
    run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01")
    _force(cli_db, "r1", "a", *PATH, TI.SUCCESS)
    _force(cli_db, "r1", "b", *PATH)
    result = run_cli("tasks", "clear", "cli_dag", "-t", "^b$", "--upstream", "--yes")
    assert result.exit_code == 0, result.stderr
    tis = _tis(cli_db, "r1")
    assert tis["a"] == ("none", 1, 3) and tis["b"] == ("restarting", 1, 2)
    assert _run_state(cli_db, "r1") == "queued"  # the run never left queued here


def test_clear_errors(run_cli, cli_db) -> None:
    run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01")
    assert run_cli("tasks", "clear", "cli_dag", "--yes").stdout.strip() == "Cleared 0 task instance(s)."
    assert run_cli("tasks", "clear", "cli_dag").stdout.strip() == "No task instances to clear."
    missing = run_cli("tasks", "clear", "nope", "--yes")
    assert missing.exit_code == 1 and "'nope'" in missing.stderr
    no_match = run_cli("tasks", "clear", "cli_dag", "-t", "zzz", "--yes")
    assert no_match.exit_code == 1 and "zzz" in no_match.stderr
    assert run_cli("tasks", "clear", "cli_dag", "-s", "2024-02-01", "-e", "2024-01-01", "--yes").exit_code == 2
    assert run_cli("tasks", "clear", "cli_dag", "-s", "yesterday-ish", "--yes").exit_code == 2


def test_mark_sets_a_person_state_with_downstream(run_cli, cli_db) -> None:
    _failed_run(run_cli, cli_db)
    result = run_cli("tasks", "mark", "cli_dag", "r1", "b", "--state", "success", "--downstream", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert {(r["task_id"], r["previous_state"], r["state"]) for r in result.json()} == {
        ("b", "failed", "success"),
        ("c", "upstream_failed", "success"),
    }
    assert _tis(cli_db, "r1")["b"][0] == "success" and _tis(cli_db, "r1")["c"][0] == "success"
    skipped = run_cli("tasks", "mark", "cli_dag", "r1", "d", "--state", "skipped")
    assert skipped.exit_code == 0 and "Marked 1" in skipped.stdout


def test_mark_errors(run_cli, cli_db) -> None:
    run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01")
    assert run_cli("tasks", "mark", "cli_dag", "r1", "b", "--state", "running").exit_code == 2
    assert run_cli("tasks", "mark", "cli_dag", "r1", "b").exit_code == 2
    no_task = run_cli("tasks", "mark", "cli_dag", "r1", "zz", "--state", "success")
    assert no_task.exit_code == 1 and "'zz'" in no_task.stderr
    no_run = run_cli("tasks", "mark", "cli_dag", "nope", "b", "--state", "success")
    assert no_run.exit_code == 1 and "'nope'" in no_run.stderr


def test_approve_writes_the_decision_the_backend_reads(run_cli, cli_db, cli_settings) -> None:
    run_cli("dags", "trigger", "approval_dag", "--run-id", "r1")
    early = run_cli("tasks", "approve", "approval_dag", "r1", "wait")
    assert early.exit_code == 1 and "not waiting for approval" in early.stderr
    _force(cli_db, "r1", "wait", *PATH, TI.UP_FOR_RESCHEDULE)
    result = run_cli("tasks", "approve", "approval_dag", "r1", "wait", "--comment", "looks good", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["decision"] == "approved"
    backend = DbRuntimeBackend(cli_db, cli_settings, dag_id="approval_dag", run_id="r1")
    assert backend.approval(dag_id="approval_dag", run_id="r1", task_id="wait", map_index=-1) == (
        "approved",
        "looks good",
    )
    again = run_cli("tasks", "approve", "approval_dag", "r1", "wait", "--reject")
    assert again.exit_code == 1 and "approved already" in again.stderr


def test_reject_and_approve_errors(run_cli, cli_db, cli_settings) -> None:
    run_cli("dags", "trigger", "approval_dag", "--run-id", "r1")
    _force(cli_db, "r1", "wait", *PATH)
    assert run_cli("tasks", "approve", "approval_dag", "r1", "wait", "--reject", "-m", "no").exit_code == 0
    with cli_db.transaction() as session:
        value = session.scalar(sa.select(XCom.value).where(XCom.key == APPROVAL_KEY))
    assert value["decision"] == "rejected" and value["comment"] == "no"
    not_approval = run_cli("tasks", "approve", "approval_dag", "r1", "done")
    assert not_approval.exit_code == 1 and "not an ApprovalOperator" in not_approval.stderr
    missing = run_cli("tasks", "approve", "approval_dag", "nope", "wait")
    assert missing.exit_code == 1 and "'nope'" in missing.stderr
