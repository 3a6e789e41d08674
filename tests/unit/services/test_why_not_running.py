"""Why a task instance is not running: each reason built for real through the scheduler, then explained.

Every test stores the DAGs below, makes the state with the real scheduler (a recording
executor that keeps what it is given queued, or the inline executor that runs each try in
a forked process) and asks ``failed_deps`` (``tasks failed-deps``) and ``dependencies`` (the
API and the task instance page), which share one engine.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pendulum
import pytest

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.executors.inline import InlineExecutor
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.services.dag_runs import set_paused
from dagflow.services.dependencies import task_instance_dependencies
from dagflow.services.failed_deps import failed_deps
from dagflow.services.pools import set_pool
from dagflow.state import DagRunType

DAGS = """
from datetime import timedelta

import pendulum
from dagflow import DAG
from dagflow.operators import EmptyOperator, PythonOperator
from dagflow.sensors import PythonSensor, TimeDeltaSensor

START = pendulum.datetime(2024, 1, 1, tz="UTC")


def fail():
    raise RuntimeError("boom")


with DAG("pooled", schedule=None, start_date=START):
    EmptyOperator(task_id="first", pool="tiny")
    EmptyOperator(task_id="second", pool="tiny", priority_weight=0)

with DAG("capped", schedule=None, start_date=START, max_active_tasks=1, max_active_runs=1):
    EmptyOperator(task_id="one")
    EmptyOperator(task_id="two", priority_weight=0)

with DAG("fanned", schedule=None, start_date=START):
    EmptyOperator.partial(task_id="each", max_active_tis_per_dag=1).expand(doc_md=["a", "b", "c"])

with DAG("per_run", schedule=None, start_date=START):
    EmptyOperator.partial(task_id="each", max_active_tis_per_dagrun=2).expand(doc_md=["a", "b", "c", "d"])

with DAG("busy", schedule=None, start_date=START):
    for n in range(3):
        EmptyOperator(task_id=f"t{n}", priority_weight=3 - n)

with DAG("flaky", schedule=None, start_date=START):
    PythonOperator(task_id="fails", python_callable=fail, retries=2, retry_delay=timedelta(hours=1))

with DAG("deferring", schedule=None, start_date=START):
    TimeDeltaSensor(task_id="later", delta=timedelta(hours=2), deferrable=True, timeout=timedelta(hours=3))

with DAG("poking", schedule=None, start_date=START):
    PythonSensor(task_id="poke", python_callable=lambda: False, mode="reschedule", poke_interval=600)
"""


class HoldingExecutor(BaseExecutor):
    """Takes workloads and keeps them: their task instances stay queued, as when no worker claims them."""

    def submit(self, workload: TaskWorkload) -> None:
        self._track(workload)

    def poll(self) -> list[TaskEvent]:
        return []


@pytest.fixture
def stored(db_any: Database) -> Database:
    """The DAGs above in the test's database (SQLite, and PostgreSQL), unpaused."""
    db = db_any
    folder = db.settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "why_dags.py").write_text(textwrap.dedent(DAGS))
    sync_folders(db, [folder], paused_at_creation=False)
    return db


def _runs(db: Database, sched: Scheduler, dag_id: str, *run_ids: str) -> None:
    now = pendulum.now("UTC")
    for n, run_id in enumerate(run_ids):
        when = now.add(seconds=n)
        with db.transaction() as session:
            entry = sched.store.get(session, dag_id)
            assert entry is not None
            create_dagrun(
                session, dag=entry.dag, run_id=run_id, run_type=DagRunType.MANUAL,
                logical_date=when, data_interval=(when, when), now=when,
            )  # fmt: skip


def _holding(db: Database, settings: Settings, parallelism: int = 32) -> Scheduler:
    return Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, HoldingExecutor(parallelism=parallelism))


def _inline(db: Database, settings: Settings) -> Scheduler:
    return Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, InlineExecutor(settings, db=db))


def _why(db: Database, dag_id: str, task_id: str, run_id: str = "r1", map_index: int = -1) -> dict[str, str]:
    found = failed_deps(db, dag_id, task_id, run_id, map_index=map_index)["reasons"]
    deps = task_instance_dependencies(db, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
    assert [(r["dep"], r["detail"]) for r in found] == [(d.name, d.reason) for d in deps]  # one engine
    return {r["dep"]: r["detail"] for r in found}


def _tick(sched: Scheduler, times: int = 2) -> None:
    for _ in range(times):
        sched.tick(pendulum.now("UTC"))


def test_a_full_pool_names_its_use_and_size(stored: Database) -> None:
    settings = stored.settings
    set_pool(stored, "tiny", 1)
    sched = _holding(stored, settings)
    _runs(stored, sched, "pooled", "r1")
    _tick(sched)
    why = _why(stored, "pooled", "second")
    assert list(why) == ["Pool Slots Available"]
    assert "Pool 'tiny' is full: 1 of its 1 slots are in use and the task needs 1." in why["Pool Slots Available"]
    queued = _why(stored, "pooled", "first")  # given to the executor, never claimed by a worker
    assert list(queued) == ["Task Instance State"] and "queued since 20" in queued["Task Instance State"]
    assert "not yet claimed by a worker" in queued["Task Instance State"]


def test_max_active_tasks_and_max_active_runs(stored: Database) -> None:
    settings = stored.settings
    sched = _holding(stored, settings)
    _runs(stored, sched, "capped", "r1", "r2")
    _tick(sched)
    why = _why(stored, "capped", "two")
    assert (
        list(why) == ["DAG's max_active_tasks"] and "(1) is reached: 1 task instances" in why["DAG's max_active_tasks"]
    )
    later = _why(stored, "capped", "one", run_id="r2")
    assert list(later)[:2] == ["Dagrun Running", "Max Active Runs"]
    assert "max_active_runs (1) is reached: 1 runs are running" in later["Max Active Runs"]


def test_a_paused_dag(stored: Database) -> None:
    settings = stored.settings
    sched = _holding(stored, settings)
    _runs(stored, sched, "busy", "r1")
    set_paused(settings, stored, "busy", paused=True)
    _tick(sched)
    assert list(_why(stored, "busy", "t0")) == ["Dagrun Running", "Dag Not Paused"]  # a paused DAG starts no run


def test_max_active_tis_per_dag_of_a_mapped_task(stored: Database) -> None:
    settings = stored.settings
    sched = _holding(stored, settings)
    _runs(stored, sched, "fanned", "r1")
    _tick(sched, 3)
    held = [_why(stored, "fanned", "each", map_index=i) for i in range(3)]
    assert sum(1 for w in held if list(w) == ["Task Instance State"]) == 1  # one queued
    limited = [w for w in held if "Task Concurrency" in w]
    assert len(limited) == 2 and "1 of 1 (max_active_tis_per_dag)" in limited[0]["Task Concurrency"]


def test_max_active_tis_per_dagrun_counts_this_run_only(stored: Database) -> None:
    settings = stored.settings
    sched = _holding(stored, settings)
    _runs(stored, sched, "per_run", "r1", "r2")
    _tick(sched, 3)
    for run_id in ("r1", "r2"):  # each run queues its own two
        held = [_why(stored, "per_run", "each", run_id=run_id, map_index=i) for i in range(4)]
        assert sum(1 for w in held if list(w) == ["Task Instance State"]) == 2
        limited = [w for w in held if list(w) == ["Task Concurrency Per Run"]]
        assert len(limited) == 2
        assert "2 of 2 (max_active_tis_per_dagrun)" in limited[0]["Task Concurrency Per Run"]


def test_executor_capacity_counts_what_the_scheduler_counts(stored: Database) -> None:
    settings = stored.settings
    small = settings.replace(core={"parallelism": 2, "executor": "CeleryExecutor"})
    db = Database(small)
    local = Database(settings.replace(core={"parallelism": 1, "executor": "LocalExecutor"}))
    try:
        sched = _holding(db, small, parallelism=2)
        _runs(db, sched, "busy", "r1")
        _tick(sched)
        why = _why(db, "busy", "t2")
        assert list(why) == ["Executor Slots Available"]
        assert why["Executor Slots Available"] == (
            "The executor is full: 0 task instances running and 2 queued; core.parallelism is 2."
        )
        assert "the LocalExecutor takes 2: 1 running" in _why(local, "busy", "t2")["Executor Slots Available"]
        assert "Executor Slots Available" not in _why(stored, "busy", "t2")  # parallelism 32: room
    finally:
        db.dispose()
        local.dispose()


def test_waiting_for_the_retry_delay_until_the_next_try(stored: Database) -> None:
    settings = stored.settings
    sched = _inline(stored, settings)
    _runs(stored, sched, "flaky", "r1")
    _tick(sched)
    found = failed_deps(stored, "flaky", "fails", "r1")
    assert found["state"] == "up_for_retry"
    detail = {r["dep"]: r["detail"] for r in found["reasons"]}["Not In Retry Period"]
    next_try = pendulum.parse(detail.rsplit(" at ", 1)[1].rstrip("."))
    assert isinstance(next_try, pendulum.DateTime)
    assert timedelta(minutes=59) < next_try - pendulum.now("UTC") <= timedelta(hours=1)
    later = failed_deps(stored, "flaky", "fails", "r1", now=pendulum.now("UTC").add(hours=2))
    assert "Not In Retry Period" not in [r["dep"] for r in later["reasons"]]


def test_deferred_names_the_trigger_and_its_timeout(stored: Database) -> None:
    settings = stored.settings
    sched = _inline(stored, settings)
    _runs(stored, sched, "deferring", "r1")
    _tick(sched)
    why = _why(stored, "deferring", "later")
    detail = why["Task Deferred"]
    assert detail.startswith("Task is deferred on dagflow.triggers.") and "Trigger(" in detail
    assert "not yet picked up" in detail and "it times out at 20" in detail and "resumes in" in detail


def test_up_for_reschedule_until_the_next_poke(stored: Database) -> None:
    settings = stored.settings
    sched = _inline(stored, settings)
    _runs(stored, sched, "poking", "r1")
    _tick(sched)
    why = _why(stored, "poking", "poke")
    assert list(why) == ["Ready To Reschedule"] and "will poke again at 20" in why["Ready To Reschedule"]
