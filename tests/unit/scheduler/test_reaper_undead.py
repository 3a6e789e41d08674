"""Undead tries with a real forked task process: reaped or cleared while running.

The worker (``run_workload`` in a thread, forking its task process) heartbeats every
0.2 s; once the reaper or a clear changes the row, the next heartbeat finds it no
longer running this try and the whole process tree is killed. The state the reaper or
the person set stands; the try history gets one row. (Marked failed/success by a person:
``tests/integration/test_runner.py``; a real worker killed: ``tests/faults``.)
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
import psutil
import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import TaskWorkload
from dagflow.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory, utcnow
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.reaper import sweep
from dagflow.state import DagRunState, TaskInstanceState

TI = TaskInstanceState
DAY = pendulum.datetime(2024, 3, 5, tz="UTC")
DAG_FILE = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import BashOperator

with DAG("undead", schedule=None, start_date=datetime(2024, 1, 1)):
    BashOperator(task_id="long", bash_command="sleep 60.{mark}")
"""


class Worker:
    """One queued try of ``undead.long`` run by ``run_workload`` in a background thread."""

    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db = db
        self.settings = db.settings.replace(
            scheduler={"heartbeat_interval": 0.2, "heartbeat_timeout": 5.0}, core={"killed_task_cleanup_time": 1.0}
        )
        self.mark = str(uuid.uuid4().int % 10**6)
        folder = db.settings.core.dags_folder
        folder.mkdir(parents=True, exist_ok=True)
        fileloc = folder / f"undead_{self.mark}.py"
        fileloc.write_text(DAG_FILE.format(mark=self.mark))
        with db.transaction() as session:
            session.add(DagModel(dag_id="undead", fileloc=str(fileloc.resolve())))
            session.add(
                DagRun(
                    dag_id="undead",
                    run_id="r",
                    logical_date=DAY,
                    state=DagRunState.RUNNING,
                    data_interval_start=DAY,
                    data_interval_end=DAY,
                )
            )
            ti = TaskInstance(dag_id="undead", run_id="r", task_id="long", state=TI.QUEUED)
            session.add(ti)
            session.flush()
            self.ti_id = ti.id
        self.workload = TaskWorkload(
            ti_id=self.ti_id,
            dag_id="undead",
            run_id="r",
            task_id="long",
            map_index=-1,
            try_number=1,
        )
        self.outcome: Any = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.outcome = run_workload(self.workload, self.settings, db=self.db)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not self.processes():
            time.sleep(0.05)
        assert self.processes(), "the task never started"

    def processes(self) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if (
                    any(f"60.{self.mark}" in part for part in proc.info["cmdline"] or [])
                    and proc.status() != psutil.STATUS_ZOMBIE
                ):
                    found.append(proc)
            except psutil.Error:
                continue
        return found

    def join(self) -> None:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the worker did not stop the undead try"

    def row(self) -> tuple[TaskInstanceState, str | None]:
        with self.db.transaction() as session:
            ti = session.get(TaskInstance, self.ti_id)
            assert ti is not None
            return ti.state, ti.end_reason

    def history(self) -> list[tuple[TaskInstanceState, str | None]]:
        with self.db.transaction() as session:
            return [
                tuple(r)
                for r in session.execute(  # type: ignore[misc]
                    sa.select(TaskInstanceHistory.state, TaskInstanceHistory.reason).where(
                        TaskInstanceHistory.ti_id == self.ti_id
                    )
                )
            ]


@pytest.fixture
def worker(db: Database, tmp_path: Path) -> Any:
    w = Worker(db, tmp_path)
    yield w
    for proc in w.processes():
        proc.kill()


def test_reaped_try_is_killed_and_the_reapers_state_stands(worker: Worker) -> None:
    worker.start()
    with worker.db.transaction() as session:  # the scheduler thinks the worker is gone
        result = sweep(session, SerializedDagStore(), worker.settings, now=utcnow() + timedelta(seconds=30))
    assert result.zombies == 1
    worker.join()
    assert worker.processes() == []
    state, reason = worker.row()
    assert state is TI.UP_FOR_RETRY and reason is not None and reason.startswith("worker lost: no heartbeat")
    assert worker.history() == [(TI.UP_FOR_RETRY, reason)]  # the reaper's row; the worker adds none
    assert worker.outcome.state is TI.UP_FOR_RETRY


def test_try_cleared_while_running_is_killed_then_restarted(worker: Worker) -> None:
    worker.start()
    with worker.db.transaction() as session:  # a person clears the running task instance
        assert set_ti_state(session, [worker.ti_id], to=TI.RESTARTING, expected=[TI.RUNNING]) == 1
    worker.join()
    assert worker.processes() == []
    # the worker that stopped the try hands it back at once: no wait for the reaper
    assert worker.row() == (TI.NONE, "cleared while running: try 1 was stopped")
    stopped = "stopped: the task instance was set to restarting while it ran"
    assert worker.history() == [(TI.RESTARTING, stopped)]
    with worker.db.transaction() as session:  # the reaper, a few heartbeats later, has nothing left to do
        result = sweep(session, SerializedDagStore(), worker.settings, now=utcnow() + timedelta(seconds=5))
    assert result.restarted == 0
    assert worker.row() == (TI.NONE, "cleared while running: try 1 was stopped")


def test_reaper_restarts_a_cleared_try_whose_worker_is_gone(db: Database) -> None:
    """``restarting`` with a silent heartbeat and no worker: the reaper hands it back after the grace."""
    now = utcnow()
    with db.transaction() as session:
        session.add(
            DagRun(
                dag_id="gone",
                run_id="r",
                logical_date=DAY,
                state=DagRunState.RUNNING,
                data_interval_start=DAY,
                data_interval_end=DAY,
            )
        )
        ti = TaskInstance(
            dag_id="gone",
            run_id="r",
            task_id="t",
            state=TI.RESTARTING,
            try_number=1,
            max_tries=0,
            try_token="tok",
            start_date=now,
            last_heartbeat=now,
        )
        session.add(ti)
        session.flush()
        ti_id = ti.id
    with db.transaction() as session:  # still within the grace: the worker may be stopping it
        assert sweep(session, SerializedDagStore(), db.settings, now=now + timedelta(seconds=1)).restarted == 0
    with db.transaction() as session:
        assert sweep(session, SerializedDagStore(), db.settings, now=now + timedelta(seconds=120)).restarted == 1
    with db.transaction() as session:
        row = session.get(TaskInstance, ti_id)
        assert row is not None and row.state is TI.NONE
        assert row.end_reason == "cleared while running: try 1 was stopped"
        history = (
            session.execute(sa.select(TaskInstanceHistory.state).where(TaskInstanceHistory.ti_id == ti_id))
            .scalars()
            .all()
        )
        assert history == [TI.RESTARTING]
