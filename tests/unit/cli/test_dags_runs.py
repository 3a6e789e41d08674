"""``dags trigger|pause|unpause|state|list-runs|delete``."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dagflow.models import DagModel, DagRun, SerializedDagModel, TaskInstance


def test_trigger_creates_a_queued_manual_run(run_cli, cli_db) -> None:
    result = run_cli(
        "dags", "trigger", "cli_dag", "--logical-date", "2024-03-05", "--conf", '{"n": 3}', "--output", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert result.json() == {
        "dag_id": "cli_dag",
        "run_id": "manual__2024-03-05T00:00:00+00:00",
        "logical_date": "2024-03-05T00:00:00+00:00",
        "state": "queued",
    }
    with cli_db.transaction() as session:
        run = session.scalar(sa.select(DagRun).where(DagRun.dag_id == "cli_dag"))
        assert run.run_type == "manual" and run.external_trigger and run.conf == {"n": 3}
        # @daily: a manual run at midnight covers the previous day (Airflow's manual interval)
        assert run.data_interval_end.isoformat().startswith("2024-03-05T00:00:00")
        assert run.data_interval_start.isoformat().startswith("2024-03-04T00:00:00")
        tis = session.scalars(sa.select(TaskInstance.task_id).where(TaskInstance.run_id == run.run_id)).all()
        assert sorted(tis) == ["a", "b", "c", "d"]


def test_trigger_parses_the_folder_when_the_dag_is_unknown(run_cli) -> None:
    result = run_cli("dags", "trigger", "cli_dag", "--run-id", "my_run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["run_id"] == "my_run"


@pytest.mark.parametrize("run_id", ["x/../../../../tmp/escaped", "r" * 5000, "has space", "", "a\x00b", "é"])
def test_trigger_refuses_a_run_id_outside_the_id_rule(run_cli, cli_db, run_id: str) -> None:
    """The issue's traversal and the 5 000-character id: exit 2, one line, nothing written."""
    result = run_cli("dags", "trigger", "cli_dag", "--run-id", run_id)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("Error: invalid run_id") and result.stderr.count("\n") == 1
    assert len(result.stderr) < 300
    with cli_db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(DagRun)) == 0


def test_trigger_errors(run_cli, cli_db) -> None:
    assert run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01").exit_code == 0
    duplicate = run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-02")
    assert duplicate.exit_code == 1 and "'r1'" in duplicate.stderr and "exists already" in duplicate.stderr
    same_date = run_cli("dags", "trigger", "cli_dag", "-l", "2024-01-01")
    assert same_date.exit_code == 1 and "already has a run" in same_date.stderr
    missing = run_cli("dags", "trigger", "no_such_dag")
    assert missing.exit_code == 1 and "no_such_dag" in missing.stderr
    bad_conf = run_cli("dags", "trigger", "cli_dag", "--conf", '{"n": "three"}')
    assert bad_conf.exit_code == 2 and "'n'" in bad_conf.stderr
    not_json = run_cli("dags", "trigger", "cli_dag", "--conf", "{")
    assert not_json.exit_code == 2
    assert "Traceback" not in duplicate.stderr + missing.stderr + bad_conf.stderr


def test_state_prints_the_state_last(run_cli, cli_db) -> None:
    run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01")
    result = run_cli("dags", "state", "cli_dag", "r1")
    assert result.exit_code == 0 and result.stdout.strip().splitlines()[-1] == "queued"
    by_date = run_cli("dags", "state", "cli_dag", "2024-01-01")
    assert by_date.stdout.strip() == "queued"
    missing = run_cli("dags", "state", "cli_dag", "nope")
    assert missing.exit_code == 1 and "'nope'" in missing.stderr


def test_pause_and_unpause(run_cli, cli_db) -> None:
    assert run_cli("dags", "pause", "cli_dag", "-o", "json").json() == [{"dag_id": "cli_dag", "is_paused": True}]
    with cli_db.transaction() as session:
        assert session.get(DagModel, "cli_dag").is_paused
    assert run_cli("dags", "unpause", "cli_dag", "-o", "plain").stdout.strip() == "cli_dag\tFalse"
    with cli_db.transaction() as session:
        assert not session.get(DagModel, "cli_dag").is_paused
    missing = run_cli("dags", "pause", "nope")
    assert missing.exit_code == 1 and "'nope'" in missing.stderr


def test_list_runs_with_state_filter(run_cli, cli_db) -> None:
    run_cli("dags", "trigger", "cli_dag", "--run-id", "old", "-l", "2024-01-01")
    run_cli("dags", "trigger", "cli_dag", "--run-id", "new", "-l", "2024-01-02")
    rows = run_cli("dags", "list-runs", "cli_dag", "-o", "json").json()
    assert [r["run_id"] for r in rows] == ["new", "old"]
    assert {"dag_id", "run_id", "state", "logical_date", "start_date", "end_date"} <= rows[0].keys()
    assert run_cli("dags", "list-runs", "cli_dag", "--state", "success", "-o", "json").json() == []
    assert len(run_cli("dags", "list-runs", "cli_dag", "--state", "queued", "-o", "json").json()) == 2
    assert run_cli("dags", "list-runs", "cli_dag", "--state", "bogus").exit_code == 2
    assert run_cli("dags", "list-runs", "nope").exit_code == 1


def test_delete_needs_yes_and_removes_everything(run_cli, cli_db) -> None:
    run_cli("dags", "trigger", "cli_dag", "--run-id", "r1", "-l", "2024-01-01")
    refused = run_cli("dags", "delete", "cli_dag")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    done = run_cli("dags", "delete", "cli_dag", "--yes")
    assert done.exit_code == 0 and "1 run" in done.stdout
    with cli_db.transaction() as session:
        assert session.get(DagModel, "cli_dag") is None
        assert session.get(SerializedDagModel, "cli_dag") is None
        assert session.scalar(sa.select(sa.func.count()).select_from(DagRun)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(TaskInstance)) == 0
    again = run_cli("dags", "delete", "cli_dag", "--yes")
    assert again.exit_code == 1 and "'cli_dag'" in again.stderr
