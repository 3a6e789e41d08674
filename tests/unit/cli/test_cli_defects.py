"""Defects found trying the CLI as a new user would (issue 19's list), each fixed and kept so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from dagflow.cli.main import main
from dagflow.db import Database

from .conftest import CliResult


def test_pools_set_accepts_minus_one_for_unlimited(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    result = run_cli("pools", "set", "big", "-1", "-o", "json")
    assert result.exit_code == 0, result.stderr
    (row,) = result.json()
    assert (row["slots"], row["open_slots"]) == (-1, -1)
    refused = run_cli("pools", "set", "big", "-2")
    assert refused.exit_code == 2 and "-2" in refused.stderr


def test_a_bad_task_regex_is_bad_input_exit_2(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    result = run_cli("tasks", "clear", "cli_dag", "-t", "(", "--yes")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid task regex '('") and result.stderr.count("\n") == 1


def test_logs_of_a_try_that_never_happened_is_an_error(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    test = run_cli("dags", "test", "cli_dag", "2024-03-05", "-o", "json")
    assert test.exit_code == 0, test.stderr
    run_id = test.json()["run_id"]
    assert "marked success" in run_cli("tasks", "logs", "cli_dag", "a", run_id, "--try", "1").stdout
    missing = run_cli("tasks", "logs", "cli_dag", "a", run_id, "--try", "99")
    assert missing.exit_code == 1 and "has no try 99 (it has had 1 try)" in missing.stderr


def test_task_instances_are_listed_in_topological_order(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    test = run_cli("dags", "test", "cli_dag", "2024-03-05", "-o", "json")
    order = [ti["task_id"] for ti in test.json()["task_instances"]]
    assert order.index("a") < order.index("b") < order.index("c") and order.index("a") < order.index("d")
    listed = run_cli("tasks", "states-for-dag-run", "cli_dag", test.json()["run_id"], "-o", "json")
    assert [ti["task_id"] for ti in listed.json()["task_instances"]] == order


def test_db_check_on_a_fresh_home_creates_nothing(tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    runner = CliRunner()
    with runner.isolation(env={"DAGFLOW_HOME": str(home)}) as (_, err, _):
        code = main(["db", "check"])
    assert code == 1
    assert "does not exist: run `dagflow db migrate`" in err.getvalue().decode()
    assert not (home / "dagflow.db").exists()


def test_tasks_test_runs_one_try_that_keeps_nothing_and_says_failed(
    run_cli: Callable[..., CliResult], cli_env: dict[str, str], cli_db: Database
) -> None:
    dags = Path(cli_env["DAGFLOW_HOME"]) / "dags"
    (dags / "failing.py").write_text(FAILING)
    result = run_cli("tasks", "test", "failing", "boom", "2024-02-01", "-o", "json")
    assert result.exit_code == 1
    document = result.json()
    assert (document["state"], document["try_number"]) == ("failed", 1)  # retries=2, but no retry will come
    assert "test_mode=True" in document["log"]
    assert "up_for_retry" not in document["log"]


FAILING = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import PythonOperator

def boom(test_mode):
    print(f"test_mode={test_mode}")
    raise ValueError("nope")

with DAG("failing", schedule="@daily", start_date=datetime(2024, 1, 1)):
    PythonOperator(task_id="boom", python_callable=boom, retries=2)
"""


def test_trigger_of_a_paused_dag_says_the_run_will_wait(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    assert run_cli("dags", "pause", "cli_dag").exit_code == 0
    result = run_cli("dags", "trigger", "cli_dag", "-o", "json")
    assert result.exit_code == 0 and result.json()["state"] == "queued"
    assert "is paused: the run stays queued until `dagflow dags unpause cli_dag`" in result.stderr
    assert run_cli("dags", "unpause", "cli_dag").exit_code == 0
    assert "paused" not in run_cli("dags", "trigger", "cli_dag", "-l", "2024-01-09").stderr


def test_a_backfill_range_with_no_schedule_time_is_an_error(
    run_cli: Callable[..., CliResult], cli_db: Database
) -> None:
    result = run_cli("dags", "backfill", "cli_dag", "-s", "2024-02-01T01:00", "-e", "2024-02-01T02:00")
    assert result.exit_code == 2
    assert "nothing to backfill" in result.stderr and result.stderr.count("\n") == 1


def test_tries_list_distinct_task_processes_in_topological_order(
    run_cli: Callable[..., CliResult], cli_db: Database
) -> None:
    run_id = run_cli("dags", "test", "cli_dag", "2024-03-05", "-o", "json").json()["run_id"]
    tries = run_cli("tasks", "tries", "cli_dag", run_id, "-o", "json").json()
    assert [t["task_id"] for t in tries][0] == "a"
    assert len({t["pid"] for t in tries}) == len(tries)  # each try ran in its own task process
    assert all(t["hostname"] not in ("localhost", "", None) for t in tries)
