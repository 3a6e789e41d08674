"""The triggerer with the real scheduler, in one process: a deferred sensor waits in the triggerer, not a slot.

Scheduler (inline executor, each try forked through the real runner) and a ``Triggerer``
in a thread share one SQLite database. Also: a dead triggerer's triggers are taken by
another, and the scheduler fails a deferral past its timeout when no triggerer fires it.
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.models import Job, TaskInstance, Trigger
from dagflow.models.job import JOB_RUNNING, JOB_SUCCESS
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.services.health import health
from dagflow.state import DagRunType, TaskInstanceState
from dagflow.triggerer import store
from dagflow.triggerer.job import Triggerer

TI = TaskInstanceState

DAGS = """
import pendulum
from dagflow import DAG
from dagflow.operators import EmptyOperator
from dagflow.sensors import FileSensor

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("wait_for_file", schedule=None, start_date=START):
    FileSensor(task_id="wait", filepath="{path}", deferrable=True, poke_interval=0.1) >> EmptyOperator(task_id="after")

with DAG("gives_up", schedule=None, start_date=START):
    FileSensor(task_id="wait", filepath="{path}.never", deferrable=True, timeout=0.5, retries=3)
"""


@pytest.fixture
def world(db_any: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scheduler, str]]:
    """Both DAGs stored in a fresh database (SQLite, and PostgreSQL) and a scheduler with the inline executor."""
    db, settings = db_any, db_any.settings
    path = str(tmp_path_factory.mktemp("files") / "ready.csv")
    folder = settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "deferring.py").write_text(textwrap.dedent(DAGS).replace("{path}", path))
    sync_folders(db, [folder], paused_at_creation=False)
    scheduler = Scheduler(settings, db, InlineExecutor(settings, db=db))
    yield scheduler, path
    scheduler.shutdown()


def _trigger(db: Database, dag_id: str) -> str:
    now = pendulum.now("UTC")
    run_id = f"manual__{dag_id}"
    with db.transaction() as session:
        entry = SerializedDagStore().get(session, dag_id)
        assert entry is not None
        create_dagrun(
            session, dag=entry.dag, run_id=run_id, run_type=DagRunType.MANUAL, logical_date=now,
            data_interval=(now, now), now=now,
        )  # fmt: skip
    return run_id


def _ti(db: Database, dag_id: str, task_id: str) -> TaskInstance:
    with db.transaction(readonly=True) as session:
        ti = session.scalar(
            sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
        )
        assert ti is not None
        session.expunge(ti)
        return ti


def _until(condition: Callable[[], bool], scheduler: Scheduler | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        if scheduler is not None:
            scheduler._full_pass_at = None
            scheduler.tick()
        time.sleep(0.05)


def test_deferred_sensor_waits_in_the_triggerer_and_resumes(world: tuple[Scheduler, str]) -> None:
    scheduler, path = world
    db, settings = scheduler.db, scheduler.settings
    _trigger(db, "wait_for_file")
    _until(lambda: _ti(db, "wait_for_file", "wait").state is TI.DEFERRED, scheduler)
    deferred = _ti(db, "wait_for_file", "wait")
    assert deferred.try_number == 0 and deferred.next_method == "execute_complete" and deferred.trigger_id
    assert scheduler.executor.slots_free == scheduler.executor.parallelism  # no slot held while deferred

    triggerer = Triggerer(settings, db, sync_interval=0.1)
    job_id = triggerer.register()
    thread = threading.Thread(target=triggerer.run, daemon=True)
    thread.start()
    try:

        def claimed() -> bool:
            with db.transaction(readonly=True) as session:
                return (
                    session.scalar(sa.select(Trigger.triggerer_id).where(Trigger.id == deferred.trigger_id)) == job_id
                )

        _until(claimed)
        assert health(settings, db).components["triggerer"].status == "healthy"
        _until(lambda: triggerer.running_triggers == 1)
        with open(path, "w") as handle:
            handle.write("id\n")
        _until(lambda: _ti(db, "wait_for_file", "after").state is TI.SUCCESS, scheduler)
    finally:
        triggerer.stop()
        thread.join(10)
    wait = _ti(db, "wait_for_file", "wait")
    assert (wait.state, wait.try_number, wait.next_method, wait.trigger_id) == (TI.SUCCESS, 1, None, None)
    with db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Trigger)) == 0
        assert session.scalar(sa.select(Job.state).where(Job.id == job_id)) == JOB_SUCCESS


def test_a_dead_triggerers_triggers_are_taken_over(settings: Settings, db: Database) -> None:
    now = pendulum.now("UTC")
    with db.transaction() as session:
        dead = Job(job_type=store.TRIGGERER_JOB, state=JOB_RUNNING, latest_heartbeat=now - timedelta(minutes=5))
        alive = Job(job_type=store.TRIGGERER_JOB, state=JOB_RUNNING, latest_heartbeat=now)
        session.add_all([dead, alive])
        session.flush()
        kwargs = {"moment": (now + timedelta(hours=1)).isoformat()}
        classpath = "dagflow.triggers.temporal.DateTimeTrigger"
        orphan = Trigger(classpath=classpath, kwargs=kwargs, triggerer_id=dead.id)
        kept = Trigger(classpath=classpath, kwargs=kwargs, triggerer_id=alive.id)
        new = Trigger(classpath=classpath, kwargs=kwargs)
        session.add_all([orphan, kept, new])
        session.flush()
        ids = {"orphan": orphan.id, "kept": kept.id, "new": new.id, "alive": alive.id}
        # A deferred task instance waits on each, so none is cleaned up as unused.
    triggerer = Triggerer(settings, db)
    job_id = triggerer.register()
    with db.transaction() as session:
        for trigger_id in (ids["orphan"], ids["kept"], ids["new"]):
            _deferred_on(session, trigger_id)
    report, held = triggerer.sync([])
    assert report.claimed == 2 and set(held) == {ids["orphan"], ids["new"]}
    with db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(Trigger.triggerer_id).where(Trigger.id == ids["kept"])) == ids["alive"]
        assert session.scalar(sa.select(Trigger.triggerer_id).where(Trigger.id == ids["orphan"])) == job_id


def _deferred_on(session: sa.orm.Session, trigger_id: int) -> None:
    from dagflow.models import DagRun

    now = pendulum.now("UTC")
    run_id = f"r{trigger_id}"
    session.add(DagRun(dag_id="d", run_id=run_id, logical_date=now + timedelta(seconds=trigger_id)))
    session.flush()
    session.add(TaskInstance(dag_id="d", run_id=run_id, task_id="t", state=TI.DEFERRED, trigger_id=trigger_id))


def test_scheduler_fails_a_deferral_past_its_timeout(world: tuple[Scheduler, str]) -> None:
    scheduler, _ = world
    db = scheduler.db
    _trigger(db, "gives_up")
    _until(lambda: _ti(db, "gives_up", "wait").state is TI.DEFERRED, scheduler)
    time.sleep(0.6)
    scheduler._housekeeping_at = None
    _until(lambda: _ti(db, "gives_up", "wait").state is TI.FAILED, scheduler)
    wait = _ti(db, "gives_up", "wait")
    assert wait.try_number == 1 and "timed out while deferred" in (wait.end_reason or "")


@pytest.mark.parametrize("include_deferred", [False, True])
def test_a_deferred_task_holds_a_pool_slot_only_with_include_deferred(db: Database, include_deferred: bool) -> None:
    from dagflow.models import Pool
    from dagflow.scheduler.queueing import _occupancy
    from dagflow.services.pools import get_pool

    with db.transaction() as session:
        session.add(Pool(name="narrow", slots=2, include_deferred=include_deferred))
        trigger = Trigger(classpath="dagflow.triggers.temporal.DateTimeTrigger", kwargs={"moment": "2030-01-01"})
        session.add(trigger)
        session.flush()
        _deferred_on(session, trigger.id)
        session.execute(sa.update(TaskInstance).values(pool="narrow", pool_slots=1))
    with db.transaction(readonly=True) as session:
        held = _occupancy(session, ["d"]).pools["narrow"]
    row = get_pool(db, "narrow")
    assert row.deferred == 1
    assert (held, row.open_slots) == ((1, 1) if include_deferred else (0, 2))
