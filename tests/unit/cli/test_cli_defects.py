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
