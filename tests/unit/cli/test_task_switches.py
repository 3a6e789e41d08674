"""``tasks disable|enable``: per-run task switches through the CLI and the real scheduler."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from dagflow.executors.inline import InlineExecutor
from dagflow.models import DagRun, EventLog, TaskInstance
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DagRunState


def _tis(db, run_id: str) -> dict[str, tuple[str, str | None]]:
    with db.transaction() as session:
        rows = session.execute(
            sa.select(TaskInstance.task_id, TaskInstance.state, TaskInstance.note).where(TaskInstance.run_id == run_id)
        )
        return {task_id: (state.value, note) for task_id, state, note in rows}


def _run_to_end(settings, db, run_ids: list[str]) -> dict[str, str]:
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, InlineExecutor(settings, db=db))
    states: dict[str, str] = {}
    for _ in range(40):
        sched.tick(datetime.now(UTC))
        with db.transaction() as session:
            rows = session.execute(sa.select(DagRun.run_id, DagRun.state).where(DagRun.run_id.in_(run_ids)))
            states = {run_id: state.value for run_id, state in rows}
        if all(states.get(r) in (DagRunState.SUCCESS.value, DagRunState.FAILED.value) for r in run_ids):
            break
    return states


def test_disable_for_all_runs_and_for_one_run_then_enable(run_cli, cli_db, cli_settings) -> None:
    # cli_dag: a >> b >> c, a >> d
    assert run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01").exit_code == 0
    assert run_cli("dags", "trigger", "cli_dag", "--run-id", "r2", "-l", "2024-01-02").exit_code == 0
    everywhere = run_cli("tasks", "disable", "cli_dag", "b", "--reason", "flaky API", "-o", "json")
    assert everywhere.exit_code == 0, everywhere.stderr
    assert everywhere.json()["run_id"] is None and everywhere.json()["reason"] == "flaky API"
    assert everywhere.json()["disabled_by"]  # the OS user the CLI acts as
    only_r1 = run_cli("tasks", "disable", "cli_dag", "d", "--run-id", "r1")
    assert only_r1.exit_code == 0 and "in run 'r1'" in only_r1.stdout
    why = run_cli("tasks", "failed-deps", "cli_dag", "b", "r2", "-o", "json")
    assert why.exit_code == 0 and "disabled (tasks disable): flaky API" in why.stdout, why.stdout
    who = everywhere.json()["disabled_by"]
    assert f"(for every run by {who} at 20" in why.stdout  # who switched it off, and when
    d_in_r1 = run_cli("tasks", "failed-deps", "cli_dag", "d", "r1", "-o", "json").json()["reasons"]
    assert [r["dep"] for r in d_in_r1 if "for this run by" in r["detail"]] == ["Task Disabled"]
    assert run_cli("dags", "unpause", "cli_dag").exit_code == 0

    states = _run_to_end(cli_settings, cli_db, ["r1", "r2"])

    assert states == {"r1": "success", "r2": "success"}
    r1, r2 = _tis(cli_db, "r1"), _tis(cli_db, "r2")
    assert r1["b"] == ("skipped", "disabled: flaky API") and r2["b"] == ("skipped", "disabled: flaky API")
    assert r1["c"][0] == "success" and r2["c"][0] == "success"  # a disabled upstream counts as success
    assert r1["d"] == ("skipped", "disabled") and r2["d"][0] == "success"  # only r1 had d switched off

    enabled = run_cli("tasks", "enable", "cli_dag", "b")
    assert enabled.exit_code == 0 and "for all future runs" in enabled.stdout
    again = run_cli("tasks", "enable", "cli_dag", "b")
    assert again.exit_code == 1 and "is not disabled" in again.stderr and "Traceback" not in again.stderr
    with cli_db.transaction() as session:
        events = session.execute(
            sa.select(EventLog.event, EventLog.task_id, EventLog.run_id, EventLog.actor, EventLog.extra)
            .where(EventLog.event.in_(["disable_task", "enable_task"]))
            .order_by(EventLog.id)
        ).all()
    assert [(e.event, e.task_id, e.run_id) for e in events] == [
        ("disable_task", "b", None),
        ("disable_task", "d", "r1"),
        ("enable_task", "b", None),
    ]
    assert events[0].extra["reason"] == "flaky API" and all(e.actor for e in events)


def test_disable_unknown_task_or_run_is_one_clear_error(run_cli, cli_db) -> None:
    assert run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01").exit_code == 0
    for args, message in (
        (("cli_dag", "nope"), "task 'nope' not found"),
        (("cli_dag", "b", "--run-id", "no_run"), "'no_run'"),
        (("no_dag", "b"), "no_dag"),
    ):
        result = run_cli("tasks", "disable", *args)
        assert result.exit_code == 1 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
