"""Cross-process wake-ups on a real PostgreSQL: events, not the poll interval, drive the scheduler.

The scheduler's poll interval is an hour, and its executor ("remote": it hands the
workloads to the test and never reports back, like a Celery fleet whose result only
reaches the DB) gives it no wake-up of its own. The test plays the worker with the real
runner. Only the ``run_queued`` event of the trigger and the ``ti_done`` events of the
worker's commits can make the scheduler start the run, queue ``b`` after ``a``, and end
the run, all long before the first poll would. On any database, ``notify_run`` is
what such an event calls.
"""

from __future__ import annotations

import queue
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dagflow.cli.dag_files import refresh
from dagflow.config import Settings, load_settings
from dagflow.db import Database
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.process import scheduler_listener
from dagflow.services.dag_runs import dag_run_state, set_paused, trigger_dag

POLL_INTERVAL = 3600.0
WAIT = 60.0  # far below the poll interval, generous for a busy machine

DAG_FILE = """
from dagflow import DAG
from dagflow.operators import PythonOperator

with DAG("woken", schedule=None):
    PythonOperator(task_id="a", python_callable=lambda: 1) >> PythonOperator(task_id="b", python_callable=lambda: 2)
"""


class RemoteExecutor(BaseExecutor):
    """Hands workloads to the test; never reports an event (its ``wakeup`` is never set by it)."""

    def __init__(self) -> None:
        super().__init__(parallelism=8)
        self.sent: queue.Queue[TaskWorkload] = queue.Queue()

    def submit(self, workload: TaskWorkload) -> None:
        self._track(workload)
        self.sent.put(workload)

    def poll(self) -> list[TaskEvent]:
        return []


@pytest.fixture
def pg_home(make_pg_database: Callable[[], str], tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "woken.py").write_text(textwrap.dedent(DAG_FILE))
    settings = load_settings(
        {
            "DAGFLOW_HOME": str(tmp_path),
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": make_pg_database(),
            "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
            "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
            "DAGFLOW__SCHEDULER__POLL_INTERVAL": str(POLL_INTERVAL),
        }
    )
    db = Database(settings)
    db.migrate()
    refresh(settings, db)
    set_paused(settings, db, "woken", paused=False)
    yield settings, db
    db.dispose()


@pytest.mark.postgres
def test_events_wake_the_scheduler_long_before_its_poll_interval(pg_home: tuple[Settings, Database]) -> None:
    settings, db = pg_home
    executor = RemoteExecutor()
    scheduler = Scheduler(settings, db, executor)
    listener = scheduler_listener(settings, scheduler)
    listener.start()
    thread = threading.Thread(target=scheduler.run, daemon=True)
    try:
        assert listener.wait_connected(WAIT)
        thread.start()
        _wait_for(lambda: scheduler.ticks >= 1)  # the first (full) pass is done: now it sleeps an hour
        began = time.monotonic()
        run_id = trigger_dag(settings, db, "woken").run_id  # run_queued
        for task_id in ("a", "b"):
            workload = executor.sent.get(timeout=WAIT)  # queued because an event woke the scheduler
            assert (workload.task_id, workload.run_id) == (task_id, run_id)
            assert run_workload(workload, settings, db=db).state.value == "success"  # ti_done at commit
        _wait_for(lambda: dag_run_state(db, dag_id="woken", run_id=run_id).state == "success")
        assert time.monotonic() - began < POLL_INTERVAL / 10
        assert listener.received >= 3  # run_queued + two ti_done
    finally:
        scheduler.stop()
        thread.join(WAIT)
        listener.stop()
        scheduler.shutdown()
    assert not thread.is_alive()


def test_notify_run_makes_the_next_tick_start_and_plan_that_run(db: Database, settings: Settings) -> None:
    """Between full passes a tick only follows events; ``notify_run`` is such an event (any DB)."""
    dags = settings.home / "dags"
    dags.mkdir()
    (dags / "woken.py").write_text(textwrap.dedent(DAG_FILE))
    settings = settings.replace(
        core={"dags_folder": dags, "load_examples": False}, scheduler={"poll_interval": POLL_INTERVAL}
    )
    refresh(settings, db)
    set_paused(settings, db, "woken", paused=False)
    executor = RemoteExecutor()
    scheduler = Scheduler(settings, db, executor)
    start = scheduler.clock()
    scheduler.tick(start)  # the full pass: nothing to do yet
    run_id = trigger_dag(settings, db, "woken").run_id
    assert scheduler.tick(start).runs_started == 0  # no event, no full pass due: the run waits
    scheduler.notify_run("woken", run_id, manage_runs=True)
    assert scheduler.wakeup.is_set()
    report = scheduler.tick(start)
    assert (report.runs_started, report.tis_queued) == (1, 1)
    assert executor.sent.get_nowait().task_id == "a"
    scheduler.shutdown()


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
