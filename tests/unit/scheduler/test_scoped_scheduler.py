"""A ``Scheduler`` scoped to one run (``only_run``): what ``dags test`` and ``dagflow.testing`` drive.

It plans and queues that run only, whatever its DAG's pause, pools and concurrency
limits; it creates no run, starts no other run, queues nothing of another run and reaps
nothing (the same DB holds a DAG with due timetable runs, a queued run, and a running
run with a task instance ready to schedule, a scheduled one and a zombie). A control tick of an unscoped scheduler shows that setup would
have been acted on.
"""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.exceptions import DagflowError
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.models import DagModel, DagRun, Pool, TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.clock import FrozenClock
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.single_run import run_to_end
from dagflow.state import DagRunState, DagRunType, TaskInstanceState

TI = TaskInstanceState
T0 = pendulum.datetime(2024, 1, 10, tz="UTC")

DAGS = """
import pendulum
from dagflow import DAG
from dagflow.operators import EmptyOperator

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("mine", schedule=None, start_date=START, max_active_tasks=1):
    for i in range(3):
        EmptyOperator(task_id=f"t{i}", pool="tiny")

with DAG("other", schedule="@daily", start_date=START, catchup=True):
    for task_id in ("a", "b", "c"):
        EmptyOperator(task_id=task_id)

with DAG("blocked", schedule=None, start_date=START):
    EmptyOperator(task_id="x", depends_on_past=True)
"""


class RecordingExecutor(BaseExecutor):
    """Keeps what it is given; the test plays the worker."""

    def __init__(self) -> None:
        super().__init__(parallelism=32)
        self.submitted: list[TaskWorkload] = []
        self.events: list[TaskEvent] = []

    def submit(self, workload: TaskWorkload) -> None:
        self.submitted.append(workload)

    def poll(self) -> list[TaskEvent]:
        events, self.events = self.events, []
        return events

    def succeed(self, db: Database, workloads: list[TaskWorkload]) -> None:
        with db.transaction() as session:
            for w in workloads:
                values = {"try_number": w.try_number, "start_date": T0}
                set_ti_state(session, [w.ti_id], to=TI.RUNNING, expected=[TI.QUEUED], values=values)
                set_ti_state(session, [w.ti_id], to=TI.SUCCESS, expected=[TI.RUNNING], values={"end_date": T0})
                self.events.append(TaskEvent(w.ti_id, w.try_number, TI.SUCCESS))


@pytest.fixture
def world(settings: Settings, db: Database, tmp_path: Path) -> Database:
    """``mine`` (paused, one slot in its pool, max_active_tasks=1) with a queued run; ``other`` busy."""
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "dags.py").write_text(textwrap.dedent(DAGS))
    sync_folders(db, [folder], paused_at_creation=False)
    with db.transaction() as session:
        session.add(Pool(name="tiny", slots=1, description="one slot"))
        session.execute(sa.update(DagModel).where(DagModel.dag_id == "mine").values(is_paused=True))
    _run(db, "mine", "test_run", T0)
    _run(db, "other", "queued_run", T0 - timedelta(days=1))
    running = _run(db, "other", "running_run", T0 - timedelta(days=2), state=DagRunState.RUNNING)
    with db.transaction() as session:
        ids = dict(
            session.execute(
                sa.select(TaskInstance.task_id, TaskInstance.id).where(TaskInstance.run_id == running)
            ).all()
        )
        set_ti_state(session, [ids["b"]], to=TI.SCHEDULED, expected=[TI.NONE])  # "a" stays none: due
        set_ti_state(session, [ids["c"]], to=TI.SCHEDULED, expected=[TI.NONE])
        set_ti_state(session, [ids["c"]], to=TI.QUEUED, expected=[TI.SCHEDULED])
        stale = {"try_number": 1, "start_date": T0 - timedelta(days=1), "last_heartbeat": T0 - timedelta(days=1)}
        set_ti_state(session, [ids["c"]], to=TI.RUNNING, expected=[TI.QUEUED], values=stale)  # a zombie
    return db


def _run(
    db: Database, dag_id: str, run_id: str, when: pendulum.DateTime, state: DagRunState = DagRunState.QUEUED
) -> str:
    with db.transaction() as session:
        entry = SerializedDagStore().get(session, dag_id)
        assert entry is not None
        create_dagrun(
            session,
            dag=entry.dag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            logical_date=when,
            data_interval=(when, when),
            state=state,
            now=when,
        )
    return run_id


def _snapshot(db: Database, dag_id: str) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """(run_id, state) of every run and (run_id, task_id, state) of every task instance of ``dag_id``."""
    with db.transaction() as session:
        runs = session.execute(
            sa.select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id).order_by(DagRun.run_id)
        ).all()
        tis = session.execute(
            sa.select(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state)
            .where(TaskInstance.dag_id == dag_id)
            .order_by(TaskInstance.run_id, TaskInstance.task_id)
        ).all()
    return (
        [(r, s.value) for r, s in runs],
        [(r, t, s.value if s is not None else "none") for r, t, s in tis],
    )


def test_scoped_scheduler_runs_its_run_only_and_ignores_limits(settings: Settings, world: Database) -> None:
    db = world
    fast = settings.replace(scheduler={"poll_interval": 0.0, "heartbeat_interval": 0.0})
    other_before = _snapshot(db, "other")
    clock = FrozenClock(T0)
    executor = RecordingExecutor()
    scheduler = Scheduler(fast, db, executor, clock, only_run=("mine", "test_run"))

    first = scheduler.tick()

    assert first.runs_started == 1 and first.runs_created == 0
    assert sorted(w.task_id for w in executor.submitted) == ["t0", "t1", "t2"]  # pool of 1, max_active_tasks=1
    assert {w.run_id for w in executor.submitted} == {"test_run"}
    executor.succeed(db, executor.submitted)
    for _ in range(3):
        clock.advance(hours=1)  # the zombie's heartbeat is a day old; full passes every tick
        scheduler.tick()
    assert _snapshot(db, "mine")[0] == [("test_run", "success")]
    assert _snapshot(db, "other") == other_before
    assert len(executor.submitted) == 3

    control = Scheduler(fast, db, RecordingExecutor(), clock).tick()  # unscoped: the same DB is full of work
    assert control.runs_created and control.runs_started and control.tis_queued
    assert _snapshot(db, "other") != other_before


def test_run_to_end_stops_with_an_error_when_nothing_can_move(settings: Settings, world: Database) -> None:
    db = world
    # ``blocked`` has an earlier run that failed: depends_on_past holds ``x`` for good.
    _run(db, "blocked", "earlier", T0 - timedelta(days=1), state=DagRunState.FAILED)
    with db.transaction() as session:
        session.execute(sa.update(TaskInstance).where(TaskInstance.run_id == "earlier").values(state=TI.FAILED))
    _run(db, "blocked", "now", T0)
    scheduler = Scheduler(settings, db, RecordingExecutor(), FrozenClock(T0), only_run=("blocked", "now"))

    with pytest.raises(DagflowError, match="'now' of 'blocked' cannot make progress"):
        run_to_end(scheduler)


def test_run_to_end_needs_a_scoped_scheduler(settings: Settings, db: Database) -> None:
    with pytest.raises(ValueError, match="scoped to one run"):
        run_to_end(Scheduler(settings, db, RecordingExecutor()))
