"""A backfill of 30 daily intervals with ``--reprocess-behavior failed``, carried out by ``Scheduler.tick()``.

Some intervals already have runs (failed or successful, made with ``create_dagrun`` and
moved through ``dagflow.models.transitions``); the backfill is created through the
service, then a real scheduler (fake clock, inline executor) ticks until it completes:
only the failed runs run again, the missing ones are created, the successful ones are
untouched, and no more than ``max_active_runs`` of the backfill's runs are active at
any tick.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.models import Backfill, DagRun, TaskInstance
from dagflow.models.transitions import set_dagrun_state, set_ti_state
from dagflow.scheduler.dagruns import create_dagrun, generate_run_id
from dagflow.scheduler.loop import Scheduler
from dagflow.services.backfills import backfill_progress, create_backfill
from dagflow.services.dag_runs import serialized_dag
from dagflow.state import DAGRUN_ACTIVE, DagRunState, DagRunType, TaskInstanceState

UTC = UTC
DAG_FILE = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import PythonOperator

with DAG("bf_thirty", schedule="@daily", start_date=datetime(2024, 1, 1), max_active_runs=16):
    first = PythonOperator(task_id="first", python_callable=lambda: 1)
    second = PythonOperator(task_id="second", python_callable=lambda: 2)
    first >> second
"""
FAILED_DAYS = (3, 7, 11, 15, 30)
SUCCESS_DAYS = (5, 10, 20, 25)
LIMIT = 3


def day(n: int) -> datetime:
    """Midnight UTC of 2024-01-n."""
    return datetime(2024, 1, n, tzinfo=UTC)


@pytest.fixture
def dag_db(settings: Settings, db: Database, tmp_path: Path) -> Database:
    """``db`` holding ``bf_thirty`` (unpaused) and its pre-existing failed and successful runs."""
    folder = settings.core.dags_folder  # the worker loads DAG files from the configured folders only
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bf_thirty.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [folder], paused_at_creation=False)
    for n in FAILED_DAYS:
        _finished_run(db, n, DagRunState.FAILED)
    for n in SUCCESS_DAYS:
        _finished_run(db, n, DagRunState.SUCCESS)
    return db


def _finished_run(db: Database, n: int, state: DagRunState) -> None:
    """A scheduled run at 2024-01-n that ended ``state`` (its task instances marked the same way)."""
    ended = day(n) + timedelta(days=1, hours=1)
    with db.transaction() as session:
        dag = serialized_dag(session, "bf_thirty")
        run = create_dagrun(
            session,
            dag=dag,
            run_id=generate_run_id(DagRunType.SCHEDULED, day(n)),
            run_type=DagRunType.SCHEDULED,
            logical_date=day(n),
            data_interval=(day(n), day(n + 1)),
            now=day(n + 1),
        )
        ti_state = TaskInstanceState.SUCCESS if state is DagRunState.SUCCESS else TaskInstanceState.FAILED
        ti_ids = list(session.scalars(sa.select(TaskInstance.id).where(TaskInstance.run_id == run.run_id)))
        set_ti_state(session, ti_ids, to=ti_state, expected=[TaskInstanceState.NONE], values={"end_date": ended})
        set_dagrun_state(
            session, run.id, to=DagRunState.RUNNING, expected=[DagRunState.QUEUED], values={"start_date": day(n + 1)}
        )
        set_dagrun_state(session, run.id, to=state, expected=[DagRunState.RUNNING], values={"end_date": ended})


def runs_by_day(db: Database) -> dict[int, DagRun]:
    """The runs of January 2024, by day of month (detached copies)."""
    with db.transaction() as session:
        runs = session.scalars(sa.select(DagRun).where(DagRun.dag_id == "bf_thirty"))
        found = {r.logical_date.day: r for r in runs if r.logical_date.month == 1}
        session.expunge_all()
        return found


def active_backfill_runs(db: Database, backfill_id: int) -> list[tuple[int, DagRunState]]:
    """(day, state) of the backfill's queued and running runs."""
    with db.transaction() as session:
        rows = session.execute(
            sa.select(DagRun.logical_date, DagRun.state).where(
                DagRun.backfill_id == backfill_id, DagRun.state.in_(DAGRUN_ACTIVE)
            )
        )
        return [(d.day, DagRunState(s)) for d, s in rows]


def test_backfill_thirty_days_reprocess_failed(settings: Settings, dag_db: Database) -> None:
    before = runs_by_day(dag_db)
    dry = create_backfill(
        settings, dag_db, "bf_thirty", day(1), day(30), reprocess_behavior="failed", max_active_runs=LIMIT, dry_run=True
    )
    assert len(dry.steps) == 30 and dry.backfill_id is None
    assert runs_by_day(dag_db).keys() == before.keys()  # the dry run wrote nothing
    with dag_db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Backfill)) == 0

    plan = create_backfill(
        settings, dag_db, "bf_thirty", day(1), day(30), reprocess_behavior="failed", max_active_runs=LIMIT
    )
    assert plan.backfill_id is not None
    assert sorted(s.logical_date.day for s in plan.to_run) == sorted(set(range(1, 31)) - set(SUCCESS_DAYS))
    first_seen = _drive(settings, dag_db, plan.backfill_id)

    after = runs_by_day(dag_db)
    assert set(after) == set(range(1, 31))
    for n in SUCCESS_DAYS:  # untouched
        assert after[n].backfill_id is None and after[n].end_date == before[n].end_date
        assert after[n].state is DagRunState.SUCCESS
    for n in FAILED_DAYS:  # the same run, cleared and run again for the backfill
        assert after[n].run_id == before[n].run_id and after[n].backfill_id == plan.backfill_id
        assert after[n].state is DagRunState.SUCCESS and after[n].run_type == DagRunType.SCHEDULED.value
    created = set(range(1, 31)) - set(FAILED_DAYS) - set(SUCCESS_DAYS)
    for n in created:
        assert after[n].run_type == DagRunType.BACKFILL.value
        assert after[n].run_id == f"backfill__2024-01-{n:02d}T00:00:00+00:00"
        assert after[n].state is DagRunState.SUCCESS and after[n].backfill_id == plan.backfill_id
        assert (after[n].data_interval_start.day, after[n].data_interval_end.day) == (n, n + 1)
    assert first_seen == sorted(first_seen)  # oldest interval first
    progress = backfill_progress(dag_db, plan.backfill_id)
    assert (progress.success, progress.failed, progress.pending, progress.total) == (26, 0, 0, 26)
    assert progress.backfill.status == "completed" and progress.backfill.completed_at is not None
    with dag_db.transaction() as session:
        retried = session.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == before[3].run_id))
        assert {(t.state, t.try_number) for t in retried} == {(TaskInstanceState.SUCCESS, 1)}


def _drive(settings: Settings, db: Database, backfill_id: int) -> list[int]:
    """Tick until the backfill completes; check the limit at every tick; days in the order first seen."""
    now = datetime(2024, 3, 1, tzinfo=UTC)
    scheduler = Scheduler(settings, db, InlineExecutor(settings, db=db, fork=False), clock=lambda: now)
    seen: list[int] = []
    peak = 0
    try:
        for _ in range(400):
            scheduler.tick(now)
            active = active_backfill_runs(db, backfill_id)
            assert len(active) <= LIMIT, active
            peak = max(peak, len(active))
            seen += sorted(n for n, _ in active if n not in seen)
            with db.transaction() as session:
                if session.get(Backfill, backfill_id).completed_at is not None:  # type: ignore[union-attr]
                    assert peak == LIMIT  # the limit was reached, and held
                    return seen
            now += timedelta(seconds=5)
    finally:
        scheduler.shutdown()
    raise AssertionError(f"backfill did not complete: {backfill_progress(db, backfill_id)}")


def test_run_backwards_and_cancel(settings: Settings, dag_db: Database) -> None:
    plan = create_backfill(settings, dag_db, "bf_thirty", day(1), day(30), max_active_runs=2, run_backwards=True)
    assert plan.backfill_id is not None
    now = datetime(2024, 3, 1, tzinfo=UTC)
    scheduler = Scheduler(settings, dag_db, InlineExecutor(settings, db=dag_db, fork=False), clock=lambda: now)
    try:
        scheduler.tick(now)
        assert sorted(n for n, _ in active_backfill_runs(dag_db, plan.backfill_id)) == [28, 29]
        from dagflow.services.backfills import cancel_backfill

        cancel_backfill(dag_db, plan.backfill_id)
        for _ in range(50):
            now += timedelta(seconds=5)
            scheduler.tick(now)
    finally:
        scheduler.shutdown()
    progress = backfill_progress(dag_db, plan.backfill_id)
    assert progress.backfill.status == "cancelled" and progress.running == progress.queued == 0
    assert progress.done == 2 and progress.cancelled == 30 - len(FAILED_DAYS) - len(SUCCESS_DAYS) - 2


def test_backfill_of_a_paused_dag_runs_to_success(settings: Settings, db: Database, tmp_path: Path) -> None:
    folder = settings.core.dags_folder  # the worker loads DAG files from the configured folders only
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bf_thirty.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [folder], paused_at_creation=True)
    plan = create_backfill(settings, db, "bf_thirty", day(1), day(3))
    assert plan.backfill_id is not None
    now = datetime(2024, 3, 1, tzinfo=UTC)
    scheduler = Scheduler(settings, db, InlineExecutor(settings, db=db, fork=False), clock=lambda: now)
    try:
        for _ in range(50):
            scheduler.tick(now)
            if backfill_progress(db, plan.backfill_id).backfill.status == "completed":
                break
            now += timedelta(seconds=5)
    finally:
        scheduler.shutdown()
    progress = backfill_progress(db, plan.backfill_id)
    assert (progress.backfill.status, progress.success, progress.total) == ("completed", 3, 3)
    after = runs_by_day(db)
    assert sorted(after) == [1, 2, 3]  # no scheduled runs: the DAG stayed paused
    assert all(r.state is DagRunState.SUCCESS and r.run_type == DagRunType.BACKFILL.value for r in after.values())
    with db.transaction() as session:
        states = set(session.scalars(sa.select(TaskInstance.state).where(TaskInstance.dag_id == "bf_thirty")))
    assert states == {TaskInstanceState.SUCCESS}
