"""``dags details|next-execution|report|reserialize`` and ``tasks render|failed-deps|run`` through ``main()``."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.cli.conftest import CliResult

Run = Callable[..., CliResult]

TEMPLATED = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import BashOperator

with DAG("tmpl", schedule="@daily", start_date=datetime(2024, 1, 1), end_date=datetime(2024, 1, 10),
         catchup=True, params={"who": "world"}):
    hello = BashOperator(task_id="hello", bash_command="echo {{ ds }} {{ params.who }} {{ var.value.get('v', '-') }}")
    after = BashOperator(task_id="after", bash_command="echo after; exit {{ params.get('code', 0) }}", retries=1)
    hello >> after
"""


@pytest.fixture
def with_templated(cli_env: dict[str, str]) -> None:
    (Path(cli_env["DAGFLOW_HOME"]) / "dags" / "tmpl.py").write_text(textwrap.dedent(TEMPLATED))


def test_dags_details_next_execution_report(run_cli: Run, cli_db: object, with_templated: None) -> None:
    details = run_cli("dags", "details", "tmpl", "--output", "json").json()
    assert details["dag_id"] == "tmpl" and details["is_paused"] is True
    assert details["catchup"] is True and details["task_ids"] == ["hello", "after"]
    assert details["start_date"] == "2024-01-01T00:00:00+00:00" and details["params"]["who"]["default"] == "world"

    upcoming = run_cli("dags", "next-execution", "tmpl", "-n", "3", "--output", "plain")
    assert upcoming.stdout.split() == [f"2024-01-0{day}T00:00:00+00:00" for day in (1, 2, 3)]
    assert "PAUSED" in upcoming.stderr
    last = run_cli("dags", "next-execution", "tmpl", "-n", "20", "--output", "json").json()["runs"]
    assert last[-1]["logical_date"] == "2024-01-10T00:00:00+00:00"  # the last one starting by end_date (Airflow)
    assert len(last) == 10
    assert run_cli("dags", "next-execution", "approval_dag", "--output", "plain").stdout.strip() == "None"

    report = run_cli("dags", "report", "--output", "json").json()
    assert sorted(Path(row["file"]).name for row in report) == ["cli_dags.py", "tmpl.py"]
    assert all(row["duration"] >= 0 and not row["has_error"] for row in report)
    cli_row = next(row for row in report if row["file"].endswith("cli_dags.py"))
    assert cli_row["dag_num"] == 2 and cli_row["dags"] == ["approval_dag", "cli_dag"]

    again = run_cli("dags", "reserialize")
    assert again.exit_code == 0 and "parsed 2 of 2 file(s)" in again.stdout and "3 changed" in again.stdout
    assert run_cli("dags", "details", "nope").exit_code == 1


def test_tasks_render(run_cli: Run, cli_db: object, with_templated: None) -> None:
    run_cli("variables", "set", "v", "V1")
    rendered = run_cli("tasks", "render", "tmpl", "hello", "2024-01-05")
    assert rendered.exit_code == 0, rendered.stderr
    assert (
        "# property: bash_command\n# ----------------------------------------------------------\necho 2024-01-05 world V1\n"
        in (rendered.stdout)
    )
    assert run_cli("tasks", "render", "tmpl", "nope", "2024-01-05").exit_code == 1
    assert run_cli("tasks", "render", "tmpl", "hello", "no_such_run").exit_code == 1


def test_tasks_failed_deps_and_run(run_cli: Run, cli_db: object, with_templated: None) -> None:
    run_cli("dags", "trigger", "tmpl", "--run-id", "r1", "--logical-date", "2024-01-05", "--conf", '{"code": 3}')
    deps = run_cli("tasks", "failed-deps", "tmpl", "after", "r1", "--output", "json").json()
    assert deps["state"] is None and deps["map_index"] == -1
    assert [r["dep"] for r in deps["reasons"]] == ["Dagrun Running", "Dag Not Paused", "Trigger Rule"]
    assert "1 not done" in deps["reasons"][2]["detail"]

    refused = run_cli("tasks", "run", "tmpl", "after", "r1")
    assert refused.exit_code == 1 and "dependencies not met for after in r1" in refused.stderr

    first = run_cli("tasks", "run", "tmpl", "hello", "r1", "-A", "--output", "json")
    assert first.exit_code == 0, first.stderr
    assert first.json()["state"] == "success" and "2024-01-05 world -" in first.json()["log"]
    after = run_cli("tasks", "failed-deps", "tmpl", "after", "r1", "--output", "json").json()
    assert [r["dep"] for r in after["reasons"]] == ["Dagrun Running", "Dag Not Paused"]  # upstream done now

    failing = run_cli("tasks", "run", "tmpl", "after", "r1", "-A", "--output", "json")
    assert failing.exit_code == 1 and failing.json()["state"] == "up_for_retry"  # a real try: retries apply
    assert "ended up_for_retry" in failing.stderr
    waiting = run_cli("tasks", "failed-deps", "tmpl", "after", "r1", "--output", "json").json()
    assert waiting["state"] == "up_for_retry"
    assert "Not In Retry Period" in [r["dep"] for r in waiting["reasons"]]

    done = run_cli("tasks", "run", "tmpl", "hello", "r1", "-A")
    assert done.exit_code == 1 and "Task is in the 'success' state." in done.stderr
    forced = run_cli("tasks", "run", "tmpl", "hello", "r1", "-A", "--force", "--output", "json")
    assert forced.json()["state"] == "success" and forced.json()["try_number"] == 2
    tries = run_cli("tasks", "states-for-dag-run", "tmpl", "r1", "--output", "json").json()["task_instances"]
    assert {(t["task_id"], t["state"], t["try_number"]) for t in tries} == {
        ("hello", "success", 2),
        ("after", "up_for_retry", 1),
    }

    assert run_cli("tasks", "mark", "tmpl", "r1", "after", "--state", "failed").exit_code == 0
    retried = run_cli("dags", "retry", "tmpl", "r1", "--output", "json")
    assert [(t["task_id"], t["state"]) for t in retried.json()] == [("after", "failed")]  # as it was when cleared
    assert run_cli("tasks", "state", "tmpl", "after", "r1").stdout.strip().splitlines()[-1] in ("none", "None", "")


CALLBACK_DAG = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator


def shout(context):
    print("DAG callback for", context["run_id"], "state", context["state"])


with DAG("with_callback", schedule=None, start_date=datetime(2024, 1, 1), on_success_callback=shout):
    EmptyOperator(task_id="a")
"""


def test_dags_test_json_stays_one_document_with_a_printing_dag_callback(run_cli: Run, cli_env: dict[str, str]) -> None:
    (Path(cli_env["DAGFLOW_HOME"]) / "dags" / "cb.py").write_text(textwrap.dedent(CALLBACK_DAG))
    result = run_cli("dags", "test", "with_callback", "2024-02-01", "--output", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["state"] == "success"  # stdout is the JSON document only
    assert "DAG callback for manual__2024-02-01T00:00:00+00:00 state success" in result.stderr
