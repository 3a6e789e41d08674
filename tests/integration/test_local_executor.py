"""The LocalExecutor with the scheduler in this process: workers forked on demand and retired when
idle, wake-ups, timeouts, shutdown."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import psutil
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.local import LocalExecutor
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DagRunState, DagRunType, TaskInstanceState
from tests.servers import SERVER_PROCESS_NAMES

MARKER = "311.75"
DAG_FILE = f"""
from datetime import timedelta
from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator

with DAG("tree", schedule=None):
    BashOperator(task_id="stuck", bash_command="sleep {MARKER} & sleep {MARKER}; wait",
                 execution_timeout=timedelta(seconds=1))

with DAG("fan", schedule=None):
    PythonOperator(task_id="start", python_callable=lambda: 1) >> [
        PythonOperator(task_id=f"t{{i}}", python_callable=lambda: 1) for i in range(12)]
"""


@pytest.fixture
def setup(settings: Settings, db: Database, tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    dags = settings.core.dags_folder  # the worker loads DAG files from the configured folders only
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "dags.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [dags], paused_at_creation=False)
    yield settings.replace(core={"parallelism": 3, "killed_task_cleanup_time": 1.0}), db


def trigger(scheduler: Scheduler, dag_id: str, run_id: str = "r1") -> None:
    now = pendulum.now("UTC")
    with scheduler.db.transaction() as session:
        entry = scheduler.store.get(session, dag_id)
        assert entry is not None
        create_dagrun(
            session,
            dag=entry.dag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            logical_date=now,
            data_interval=(now, now),
            now=now,
        )


def run_until_finished(
    scheduler: Scheduler, seconds: float = 60, run_id: str = "r1", on_tick: Callable[[], None] = lambda: None
) -> DagRunState:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        scheduler.wakeup.clear()
        report = scheduler.tick()
        on_tick()
        if report.runs_finished:
            break
        scheduler.wakeup.wait(scheduler._wait_seconds(report))
    with scheduler.db.transaction() as session:
        return session.scalars(sa.select(DagRun.state).where(DagRun.run_id == run_id)).one()


def tries_of(db: Database, run_id: str) -> list[tuple[TaskInstanceState, int]]:
    """(state, try_number) of every task instance of the run."""
    with db.transaction() as session:
        rows = session.execute(
            sa.select(TaskInstance.state, TaskInstance.try_number).where(TaskInstance.run_id == run_id)
        )
        return [(state, number) for state, number in rows]


def markers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if MARKER in " ".join(p.info["cmdline"] or [])]


def children_now() -> set[int]:
    """Pids of this process's direct children at this moment."""
    return {proc.pid for proc in psutil.Process().children()}


def workers(before: set[int]) -> list[psutil.Process]:
    """Live processes under the children this test process started since ``before`` (``children_now()``).

    Children from before are not ours to count: the session's throwaway PostgreSQL and Redis
    servers, multiprocessing's resource tracker that another test's spawn context started, or a
    browser test's live scheduler and Chromium in this same test worker.
    """
    found = []
    for child in psutil.Process().children():
        if child.pid in before:
            continue
        try:
            for proc in [child, *child.children(recursive=True)]:
                if proc.name() in SERVER_PROCESS_NAMES or proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if not any("resource_tracker" in part for part in proc.cmdline()):
                    found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def test_timeout_kills_the_whole_process_tree(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    executor.start()
    try:
        trigger(scheduler, "tree")
        began = time.monotonic()
        assert run_until_finished(scheduler) == DagRunState.FAILED
        assert time.monotonic() - began < 20
    finally:
        scheduler.shutdown()
    with db.transaction() as session:
        ti = session.scalars(sa.select(TaskInstance)).one()
        assert ti.state == TaskInstanceState.FAILED
        assert "time" in (ti.end_reason or "").lower()
    assert markers() == []


def test_fan_out_wakes_on_events_and_shutdown_leaves_no_worker(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings.replace(scheduler={"poll_interval": 30.0}), db, executor)
    before = children_now()
    executor.start()
    try:
        assert workers(before) == []  # forked on demand: none before the first workload
        trigger(scheduler, "fan")
        began = time.monotonic()
        assert run_until_finished(scheduler) == DagRunState.SUCCESS
        # 13 tries with a 30 s poll interval: only event wake-ups make this fast.
        assert time.monotonic() - began < 20
    finally:
        scheduler.shutdown()
    deadline = time.monotonic() + 5
    while workers(before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers(before) == []


def test_workers_grow_with_the_backlog_up_to_parallelism_and_never_beyond(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    before = children_now()
    executor.start()
    seen: list[int] = []

    def count_workers() -> None:
        seen.append(len(children_now() - before))  # direct children: workers (tries are theirs)

    try:
        trigger(scheduler, "fan")
        assert run_until_finished(scheduler, on_tick=count_workers) == DagRunState.SUCCESS
    finally:
        scheduler.shutdown()
    assert max(seen) == 3  # 12 tries at once: every slot of parallelism 3, not one more
    assert executor.workers == 0
    assert tries_of(db, "r1") == [(TaskInstanceState.SUCCESS, 1)] * 13


def test_an_idle_worker_retires_and_a_later_run_forks_a_new_one(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    settings = settings.replace(core={"worker_idle_timeout": 0.3})
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    before = children_now()
    executor.start()
    try:
        trigger(scheduler, "fan")
        assert run_until_finished(scheduler) == DagRunState.SUCCESS
        deadline = time.monotonic() + 30
        while (executor.workers or workers(before)) and time.monotonic() < deadline:
            time.sleep(0.1)
            executor.heartbeat()  # reaps the workers that retired
        assert executor.workers == 0
        assert workers(before) == []  # their idle task processes went with them
        assert [event for event in executor.poll() if event.state is None] == []  # no lost try
        trigger(scheduler, "fan", run_id="r2")
        assert run_until_finished(scheduler, run_id="r2") == DagRunState.SUCCESS
    finally:
        scheduler.shutdown()
    assert tries_of(db, "r2") == [(TaskInstanceState.SUCCESS, 1)] * 13


def test_workers_that_keep_offering_to_retire_lose_no_try_and_run_none_twice(setup: tuple[Settings, Database]) -> None:
    """Workers idle for 20 ms offer to retire between tries, racing the workloads sent to them."""
    settings, db = setup
    settings = settings.replace(core={"worker_idle_timeout": 0.02})
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    executor.start()
    try:
        for run_id in ("r1", "r2", "r3"):
            trigger(scheduler, "fan", run_id=run_id)
            assert run_until_finished(scheduler, run_id=run_id) == DagRunState.SUCCESS
    finally:
        scheduler.shutdown()
    for run_id in ("r1", "r2", "r3"):
        assert tries_of(db, run_id) == [(TaskInstanceState.SUCCESS, 1)] * 13
