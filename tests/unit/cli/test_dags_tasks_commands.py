"""``dags list/show/test`` and ``tasks list/test/state/states-for-dag-run`` through the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

DAG_FILE = textwrap.dedent("""
    from datetime import datetime
    from dagflow import DAG
    from dagflow.operators import BashOperator, PythonOperator

    def fail():
        raise ValueError("nope")

    with DAG("cli_demo", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["demo"]):
        hello = BashOperator(task_id="hello", bash_command="echo hello {{ ds }}")
        broken = PythonOperator(task_id="broken", python_callable=fail)
        hello >> broken
""")


@pytest.fixture
def run(tmp_path: Path, migrate_home):
    migrate_home(tmp_path / "home")
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "cli_demo.py").write_text(DAG_FILE)
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(tmp_path / "home"),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    }

    def dagflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dagflow", *args], env=env, capture_output=True, text=True, timeout=120
        )

    return dagflow


def test_dags_list_json_has_the_contract_fields(run) -> None:
    proc = run("dags", "list", "--output", "json")

    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["dag_id"] == "cli_demo"
    assert row["is_paused"] is True  # core.dags_are_paused_at_creation
    assert row["fileloc"].endswith("cli_demo.py")
    assert row["schedule"] == "@daily"


def test_dags_show_and_tasks_list_follow_dependencies(run) -> None:
    shown = json.loads(run("dags", "show", "cli_demo", "-o", "json").stdout)
    listed = run("tasks", "list", "cli_demo", "-o", "plain")

    assert [t["task_id"] for t in shown["tasks"]] == ["hello", "broken"]
    assert shown["tasks"][0]["downstream"] == ["broken"]
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == ["hello", "broken"]


def test_failed_dags_test_exits_1_and_states_are_queryable(run) -> None:
    tested = run("dags", "test", "cli_demo", "2024-02-03", "-o", "json")

    assert tested.returncode == 1
    report = json.loads(tested.stdout)
    assert report["state"] == "failed"
    assert report["run_id"] == "manual__2024-02-03T00:00:00+00:00"
    # Airflow's rule for a manual run: the schedule interval that ends at the logical date.
    assert report["data_interval_start"] == "2024-02-02T00:00:00+00:00"
    assert report["data_interval_end"] == "2024-02-03T00:00:00+00:00"
    states = {t["task_id"]: (t["state"], t["try_number"]) for t in report["task_instances"]}
    assert states == {"hello": ("success", 1), "broken": ("failed", 1)}

    again = json.loads(run("tasks", "states-for-dag-run", "cli_demo", report["run_id"], "-o", "json").stdout)
    assert again["task_instances"] == report["task_instances"]
    assert run("tasks", "state", "cli_demo", "broken", report["run_id"]).stdout.strip() == "failed"


def test_tasks_test_runs_one_task_prints_its_log_and_keeps_nothing(run) -> None:
    proc = run("tasks", "test", "cli_demo", "hello", "2024-02-03")

    assert proc.returncode == 0, proc.stderr
    assert "hello 2024-02-03" in proc.stdout
    assert "state: success" in proc.stdout
    listed = run("tasks", "states-for-dag-run", "cli_demo", "tasks_test__2024-02-03T00:00:00+00:00")
    assert listed.returncode == 1
    assert "not found" in listed.stderr


def test_tasks_test_of_a_failing_task_exits_1(run) -> None:
    proc = run("tasks", "test", "cli_demo", "broken")

    assert proc.returncode == 1
    assert "ValueError: nope" in proc.stdout
