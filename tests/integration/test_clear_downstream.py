"""``tasks clear --downstream`` on a finished run made by ``dagflow dags test``, then the re-run.

The run is created through the public CLI (subprocesses, a fresh ``DAGFLOW_HOME``);
after the clear the test checks every task instance row, then drives the re-queued run
with the scheduler's own per-run functions and an inline executor, to see the cleared
task's next try number and its renewed retries at work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.models import DagRun, SerializedDagModel, TaskInstance
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.scheduler.run_scheduling import queue_scheduled, schedule_run
from dagflow.serialization import deserialize_dag
from dagflow.state import DAGRUN_FINISHED

DAG_FILE = """
from datetime import datetime
from pathlib import Path

from dagflow import DAG
from dagflow.operators import EmptyOperator, PythonOperator

MARKER = Path(__file__).with_name("fixed.marker")


def flaky():
    if not MARKER.exists():
        raise RuntimeError("not fixed yet")


with DAG("clear_demo", schedule="@daily", start_date=datetime(2024, 1, 1)):
    extract = EmptyOperator(task_id="extract")
    transform = PythonOperator(task_id="transform", python_callable=flaky, retries=1, retry_delay=0)
    load = EmptyOperator(task_id="load")
    report = EmptyOperator(task_id="report")
    side = EmptyOperator(task_id="side")
    extract >> transform >> load >> report
    extract >> side
"""
RUN_ID = "manual__2024-03-05T00:00:00+00:00"


@pytest.fixture
def home(tmp_path: Path, migrate_home) -> Path:
    """A migrated DAGFLOW_HOME whose DAG folder holds ``clear_demo``."""
    migrate_home(tmp_path)
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "clear_demo.py").write_text(textwrap.dedent(DAG_FILE))
    return tmp_path


def dagflow(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``dagflow`` command."""
    env = {**os.environ, "DAGFLOW_HOME": str(home), "DAGFLOW__CORE__LOAD_EXAMPLES": "false"}
    return subprocess.run(
        [sys.executable, "-m", "dagflow", *args], env=env, capture_output=True, text=True, timeout=180
    )


def ti_rows(db: Database) -> dict[str, tuple[str, int, int]]:
    """task_id -> (state, try_number, max_tries) of the run."""
    with db.transaction() as session:
        tis = session.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == RUN_ID))
        return {t.task_id: (t.state.value, t.try_number, t.max_tries) for t in tis}


def run_state(db: Database) -> str:
    """The run's state."""
    with db.transaction() as session:
        return session.scalar(sa.select(DagRun.state).where(DagRun.run_id == RUN_ID)).value


def drive(home: Path, db: Database) -> None:
    """Plan, queue and execute the run until it finishes (what the scheduler does for it)."""
    from dagflow.executors.inline import InlineExecutor

    settings = load_settings({"DAGFLOW_HOME": str(home), "DAGFLOW__CORE__LOAD_EXAMPLES": "false"})
    executor = InlineExecutor(settings, db=db)
    with db.transaction() as session:
        sdag = deserialize_dag(session.get(SerializedDagModel, "clear_demo").data)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            now = pendulum.now("UTC")
            with db.transaction() as session:
                run = find_dagrun(session, dag_id="clear_demo", run_id=RUN_ID)
                schedule_run(session, run=run, dag=sdag, now=now)
                if run.state in DAGRUN_FINISHED:
                    return
                workloads = queue_scheduled(session, run=run, now=now)
            for workload in workloads:
                executor.submit(workload)
            if not executor.poll() and not workloads:
                time.sleep(0.05)
        raise AssertionError("the cleared run did not finish in time")
    finally:
        executor.shutdown()


def test_clear_downstream_of_a_finished_run(home: Path) -> None:
    tested = dagflow(home, "dags", "test", "clear_demo", "2024-03-05", "--output", "json")
    assert tested.returncode == 1, tested.stderr
    assert json.loads(tested.stdout)["run_id"] == RUN_ID
    db = Database(load_settings({"DAGFLOW_HOME": str(home)}))
    before = ti_rows(db)
    assert before == {
        "extract": ("success", 1, 0),
        "transform": ("failed", 2, 1),
        "load": ("upstream_failed", 0, 0),
        "report": ("upstream_failed", 0, 0),
        "side": ("success", 1, 0),
    }
    assert run_state(db) == "failed"

    refused = dagflow(home, "tasks", "clear", "clear_demo", "-t", "^transform$", "--downstream")
    assert refused.returncode == 2 and ti_rows(db) == before

    cleared = dagflow(
        home,
        "tasks",
        "clear",
        "clear_demo",
        "-t",
        "^transform$",
        "--downstream",
        "-s",
        "2024-03-05",
        "-e",
        "2024-03-05",
        "--yes",
    )
    assert cleared.returncode == 0, cleared.stderr
    assert "Cleared 3 task instance(s)" in cleared.stdout
    # exactly transform and its descendants; tries kept; transform's retries renewed (2 + 1)
    assert ti_rows(db) == {
        "extract": ("success", 1, 0),
        "transform": ("none", 2, 3),
        "load": ("none", 0, 0),
        "report": ("none", 0, 0),
        "side": ("success", 1, 0),
    }
    assert run_state(db) == "queued"
    assert dagflow(home, "dags", "state", "clear_demo", RUN_ID).stdout.strip().splitlines()[-1] == "queued"

    (home / "dags" / "fixed.marker").write_text("ok")
    drive(home, db)
    assert run_state(db) == "success"
    assert ti_rows(db) == {
        "extract": ("success", 1, 0),
        "transform": ("success", 3, 3),
        "load": ("success", 1, 0),
        "report": ("success", 1, 0),
        "side": ("success", 1, 0),
    }
    db.dispose()
