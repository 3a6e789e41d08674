"""``core.default_timezone`` through the real CLI: the zone reaches the DAG file and the task process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

DAG_FILE = textwrap.dedent("""
    from datetime import datetime
    from dagflow import DAG
    from dagflow.operators import PythonOperator

    def show(dag):
        print(f"zone={dag.timezone.name} start={dag.start_date.isoformat()}")

    with DAG("zoned", schedule="@daily", start_date=datetime(2024, 1, 1)):
        PythonOperator(task_id="show", python_callable=show)
""")


@pytest.fixture
def dagflow(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "zoned.py").write_text(DAG_FILE)
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(tmp_path / "home"),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    }

    def run(*args: str, zone: str | None = None) -> subprocess.CompletedProcess[str]:
        extra = {"DAGFLOW__CORE__DEFAULT_TIMEZONE": zone} if zone is not None else {}
        return subprocess.run(
            [sys.executable, "-m", "dagflow", *args], env={**env, **extra}, capture_output=True, text=True, timeout=120
        )

    assert run("db", "migrate").returncode == 0
    return run


def test_tasks_test_reads_naive_dates_in_the_configured_zone(
    dagflow: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    paris = dagflow("tasks", "test", "zoned", "show", "2024-02-03", zone="Europe/Paris")
    assert paris.returncode == 0, paris.stderr
    assert "zone=Europe/Paris start=2023-12-31T23:00:00+00:00" in paris.stdout
    default = dagflow("tasks", "test", "zoned", "show", "2024-02-03")
    assert default.returncode == 0, default.stderr
    assert "zone=UTC start=2024-01-01T00:00:00+00:00" in default.stdout


def test_a_bad_zone_is_one_error_line(dagflow: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    proc = dagflow("dags", "list", zone="Mars/Olympus")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "Error: core.default_timezone: unknown time zone 'Mars/Olympus';"
        " expected an IANA name such as 'Europe/Paris', or 'UTC' or 'system'"
    ]
