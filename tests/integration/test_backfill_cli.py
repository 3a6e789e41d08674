"""``dagflow dags backfill`` through the real command: dry run, refusals, no scheduler, and a real scheduler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

DAG_FILE = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import PythonOperator

with DAG("bf_cli", schedule="@daily", start_date=datetime(2024, 1, 1), max_active_runs=2):
    PythonOperator(task_id="a", python_callable=lambda: 1) >> PythonOperator(task_id="b", python_callable=lambda: 2)

with DAG("bf_unscheduled", schedule=None, start_date=datetime(2024, 1, 1)):
    PythonOperator(task_id="a", python_callable=lambda: 1)
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A fresh home (migrated) whose DAG folder holds ``bf_cli`` and ``bf_unscheduled``."""
    dags, home = tmp_path / "dags", tmp_path / "home"
    dags.mkdir()
    home.mkdir()
    (dags / "bf.py").write_text(textwrap.dedent(DAG_FILE))
    environ = dict(os.environ)
    environ.update(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
            "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
            "DAGFLOW__CORE__EXECUTOR": "LocalExecutor",
            "DAGFLOW__CORE__PARALLELISM": "4",
            "DAGFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
        }
    )
    assert cli(environ, "db", "migrate").returncode == 0
    return environ


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the real ``dagflow`` command."""
    return subprocess.run(
        [sys.executable, "-m", "dagflow", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_dry_run_prints_each_interval_and_writes_nothing(env: dict[str, str]) -> None:
    proc = cli(
        env, "dags", "backfill", "bf_cli", "-s", "2024-01-01", "-e", "2024-01-05", "--dry-run", "--output", "plain"
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("2024-")]
    assert [line.split("\t")[:2] for line in lines] == [[f"2024-01-0{n}T00:00:00+00:00", "create"] for n in range(1, 6)]
    doc = json.loads(
        cli(
            env, "dags", "backfill", "bf_cli", "-s", "2024-01-01", "-e", "2024-01-02", "--dry-run", "--output", "json"
        ).stdout
    )
    assert doc["dry_run"] is True and doc["total"] == 2 and doc["backfill_id"] is None
    assert json.loads(cli(env, "dags", "list-backfills", "--output", "json").stdout) == []
    assert json.loads(cli(env, "dags", "list-runs", "bf_cli", "--output", "json").stdout) == []


def test_refusals_are_one_line_with_exit_2(env: dict[str, str]) -> None:
    proc = cli(env, "dags", "backfill", "bf_unscheduled", "-s", "2024-01-01", "-e", "2024-01-05")
    assert proc.returncode == 2 and "no schedule" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli(env, "dags", "backfill", "bf_cli", "-s", "2024-01-05", "-e", "2024-01-01")
    assert proc.returncode == 2 and "after it ends" in proc.stderr
    assert cli(env, "dags", "backfill-cancel", "99").returncode == 1


def test_no_wait_without_a_scheduler_says_so_then_cancel(env: dict[str, str]) -> None:
    proc = cli(env, "dags", "backfill", "bf_cli", "-s", "2024-01-01", "-e", "2024-01-03", "--no-wait")
    assert proc.returncode == 0, proc.stderr
    assert "Backfill 1 of bf_cli: 3 run(s)" in proc.stdout
    assert proc.stderr.count("No scheduler is running") == 1
    (row,) = json.loads(cli(env, "dags", "list-backfills", "bf_cli", "--output", "json").stdout)
    assert row["status"] == "running" and row["max_active_runs"] == 2
    assert cli(env, "dags", "backfill-cancel", "1").returncode == 0
    (row,) = json.loads(cli(env, "dags", "list-backfills", "--output", "json").stdout)
    assert row["status"] == "cancelled"


def test_backfill_with_a_real_scheduler_finishes_with_exit_0(env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "scheduler.log"
    sched = subprocess.Popen(
        [sys.executable, "-m", "dagflow", "scheduler"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_scheduler(env)
        proc = cli(env, "dags", "backfill", "bf_cli", "-s", "2024-01-01", "-e", "2024-01-05", timeout=120)
        assert proc.returncode == 0, (proc.stdout, proc.stderr, log.read_text()[-2000:])
        assert "No scheduler is running" not in proc.stderr
        assert "5 succeeded, 0 failed" in proc.stdout
    finally:
        sched.send_signal(signal.SIGTERM)
        assert sched.wait(40) == 0, log.read_text()[-2000:]
    runs = json.loads(cli(env, "dags", "list-runs", "bf_cli", "--output", "json").stdout)
    backfill_runs = sorted(r["run_id"] for r in runs if r["run_type"] == "backfill")
    assert backfill_runs == [f"backfill__2024-01-0{n}T00:00:00+00:00" for n in range(1, 6)]
    assert {r["state"] for r in runs if r["run_type"] == "backfill"} == {"success"}
    (row,) = json.loads(cli(env, "dags", "list-backfills", "--output", "json").stdout)
    assert row["status"] == "completed"


def _wait_for_scheduler(env: dict[str, str], seconds: float = 30) -> None:
    """Until the scheduler's job row has a fresh heartbeat and it has parsed ``bf_cli``.

    (A CLI call that parses the folder itself while the scheduler's first parse is under
    way can miss the DAG: ``dags trigger`` shows the same race.)
    """
    from dagflow.config import load_settings
    from dagflow.db import Database
    from dagflow.models import SerializedDagModel
    from dagflow.services.backfills import scheduler_running

    def parsed() -> bool:
        with db.transaction(readonly=True) as session:
            return session.get(SerializedDagModel, "bf_cli") is not None

    settings = load_settings(env)
    db = Database(settings)
    deadline = time.monotonic() + seconds
    try:
        while not (scheduler_running(settings, db) and parsed()):
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
    finally:
        db.dispose()


def test_ctrl_c_leaves_the_backfill_running_and_says_how_to_watch_and_cancel(env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagflow", "dags", "backfill", "bf_cli", "-s", "2024-01-01", "-e", "2024-01-03"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert "No scheduler is running" in proc.stderr.readline()
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "keeps running in the scheduler" in err
    assert "dagflow dags list-runs bf_cli" in err and "dagflow dags backfill-cancel 1" in err
    (row,) = json.loads(cli(env, "dags", "list-backfills", "--output", "json").stdout)
    assert row["status"] == "running"
