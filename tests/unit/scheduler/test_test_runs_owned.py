"""A ``dags test`` / ``tasks test`` run is owned by its process: schedulers neither start nor schedule it.

The run says so in ``dag_run.triggered_by`` (``test``, Airflow 3's ``DagRunTriggeredByType.TEST``).
An unscoped scheduler ticking on the same database, with the DAG unpaused, leaves the
test run alone while it starts an ordinary manual run of the same DAG (the control).
"""

from __future__ import annotations

from pathlib import Path

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.models import DagModel, DagRun, TaskInstance
from dagflow.scheduler.clock import FrozenClock
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.single_run import run_to_end
from dagflow.services.dag_runs import trigger_dag
from dagflow.services.dag_test import create_test_run
from dagflow.state import DagRunState, DagRunTriggeredByType
from dagflow.testing import make_dag

T0 = pendulum.datetime(2024, 1, 10, tz="UTC")
#: At module level: the task runner of the owning scheduler imports this file to find it.
OWNED = make_dag("owned", [("a", "b")])


def _run(db: Database, run_id: str) -> DagRun:
    with db.transaction(readonly=True) as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.run_id == run_id)).one()
        session.expunge(run)
        return run


def _queued_tis(db: Database, run_id: str) -> int:
    with db.transaction(readonly=True) as session:
        query = sa.select(sa.func.count()).select_from(TaskInstance).where(TaskInstance.run_id == run_id)
        return int(session.scalar(query.where(TaskInstance.state.is_not(None))) or 0)


def test_an_unscoped_scheduler_leaves_a_test_run_alone(settings: Settings, db: Database) -> None:
    test_run = create_test_run(settings, db, OWNED, logical_date=T0, conf=None, now=T0)
    with db.transaction() as session:
        session.execute(sa.update(DagModel).where(DagModel.dag_id == "owned").values(is_paused=False))
    manual = trigger_dag(settings, db, "owned", logical_date=T0.add(days=1)).run_id

    assert _run(db, test_run).triggered_by == DagRunTriggeredByType.TEST.value
    assert _run(db, manual).triggered_by == DagRunTriggeredByType.CLI.value

    clock = FrozenClock(T0.add(days=2))
    other = Scheduler(settings, db, InlineExecutor(settings, db=db), clock)
    try:
        for _ in range(3):
            other.tick()
    finally:
        other.shutdown()
    assert _run(db, manual).state != DagRunState.QUEUED  # the control: the scheduler did act
    assert _run(db, test_run).state == DagRunState.QUEUED
    assert _queued_tis(db, test_run) == 0

    here = settings.replace(core={"dags_folder": Path(__file__).parent})  # the task runner loads this file
    owner = Scheduler(here, db, InlineExecutor(here, db=db), clock, only_run=("owned", test_run))
    try:
        assert run_to_end(owner) == DagRunState.SUCCESS
    finally:
        owner.shutdown()
