"""``version``, ``info``, ``cheat-sheet``, ``config get-value|list`` and ``jobs check`` through ``main()``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pendulum

from dagflow.db import Database
from dagflow.models import Job
from tests.unit.cli.conftest import CliResult

Run = Callable[..., CliResult]


def test_version_info_and_cheat_sheet(run_cli: Run, cli_env: dict[str, str]) -> None:
    from dagflow.cli.info import dagflow_version

    version = run_cli("version")
    assert version.exit_code == 0 and version.stdout.strip() == dagflow_version() != "unknown"

    info = run_cli("info", "--output", "json").json()
    assert info["dagflow info"]["executor"] == "LocalExecutor"
    assert info["Paths info"]["dagflow_home"] == cli_env["DAGFLOW_HOME"]
    assert info["dagflow info"]["sql_alchemy_conn"].startswith("sqlite:///")

    sheet = run_cli("cheat-sheet").stdout
    for command in ("dagflow db clean", "dagflow variables export", "dagflow jobs check", "dagflow config get-value"):
        assert command in sheet


def test_info_masks_the_database_password(run_cli: Run, cli_env: dict[str, str]) -> None:
    cli_env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = "postgresql+psycopg://u:s3cret@127.0.0.1:1/x"
    shown = run_cli("info")
    assert shown.exit_code == 0 and "s3cret" not in shown.stdout and "***" in shown.stdout


def test_config_get_value_and_list(run_cli: Run, cli_env: dict[str, str]) -> None:
    cli_env["DAGFLOW__SCHEDULER__PARSING_TIMEOUT"] = "12"
    cli_env["DAGFLOW__WEBSERVER__SECRET_KEY"] = "topsecret"
    assert run_cli("config", "get-value", "scheduler", "parsing_timeout").stdout.strip() == "12.0"
    assert run_cli("config", "get-value", "core", "load_examples").stdout.strip() == "False"
    missing = run_cli("config", "get-value", "core", "nope")
    assert missing.exit_code == 2 and missing.stderr.strip() == "Error: The option [core/nope] is not found in config."

    listed = run_cli("config", "list").stdout
    assert "[scheduler]\n" in listed and "parsing_timeout = 12.0" in listed and 'secret_key = "topsecret"' in listed
    hidden = run_cli("config", "list", "--hide-sensitive", "--section", "webserver", "--output", "json").json()
    assert list(hidden) == ["webserver"] and hidden["webserver"]["secret_key"] == "< hidden >"
    assert run_cli("config", "list", "--section", "nope").exit_code == 2


def test_jobs_check(run_cli: Run, cli_db: Database) -> None:
    none = run_cli("jobs", "check", "--job-type", "scheduler")
    assert none.exit_code == 1 and "No alive jobs found." in none.stderr

    now = pendulum.now("UTC")
    with cli_db.transaction() as session:
        session.add(Job(job_type="scheduler", state="running", hostname="h1", start_date=now, latest_heartbeat=now))
        session.add(Job(job_type="scheduler", state="running", hostname="h2", start_date=now, latest_heartbeat=now))
        stale = now - timedelta(minutes=10)
        session.add(
            Job(job_type="dag_processor", state="running", hostname="h1", start_date=stale, latest_heartbeat=stale)
        )

    assert run_cli("jobs", "check", "--job-type", "SchedulerJob", "--hostname", "h1").stdout.strip() == (
        "Found one alive job."
    )
    two = run_cli("jobs", "check", "--job-type", "scheduler", "--limit", "2")
    assert two.exit_code == 1 and "Found 2 alive jobs. Expected only one." in two.stderr
    assert run_cli("jobs", "check", "--limit", "5", "--allow-multiple").stdout.strip() == "Found 2 alive jobs."
    assert run_cli("jobs", "check", "--job-type", "dag-processor").exit_code == 1  # its heartbeat is stale
    assert run_cli("jobs", "check", "--allow-multiple").exit_code == 2


def test_plugins_lists_the_installed_entry_points(run_cli: Run) -> None:
    rows = run_cli("plugins", "--output", "json").json()
    names = {(row["group"], row["name"], row["distribution"]) for row in rows}
    assert ("dagflow.executors", "LocalExecutor", "dagflow") in names
    assert ("dagflow.notifiers", "WebhookNotifier", "dagflow") in names


def test_json_output_is_one_document(run_cli: Run) -> None:
    json.loads(run_cli("config", "list", "--output", "json").stdout)
