"""A scheduler that reads only the rows that changed (``ti_reads.KnownTIs``) still runs every try once.

Between ticks a ``Scheduler`` keeps each run's task instances and re-reads only the ones
its executor reported on and its plan wrote. These tests drive a mapped run with a fake
clock and check what must not change: every task instance runs exactly once, a run ends
with the right state, and rows changed by another process (a clear through the service
layer) are picked up: at once when the run is notified (PostgreSQL's listener), at the
latest after ``FULL_READ_EVERY`` when nothing announces it (SQLite), and always before a
run is declared finished.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.execution.workload import TaskWorkload
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.planner import RunPlan
from dagflow.scheduler.ti_reads import FULL_READ_EVERY, KnownTIs, load_tis
from dagflow.services.bulk import BulkAction, TaskInstanceKey, bulk_task_instances
from dagflow.state import DagRunState, TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, trigger

TI = TaskInstanceState
RUN_ID = "r1"

MAPPED = """
    from dagflow.operators import BashOperator
    with DAG("mapped", schedule=None, max_active_tasks=4):
        BashOperator.partial(task_id="each").expand(bash_command=[f"echo {i}" for i in range(12)]) >> EmptyOperator(
            task_id="reduce"
        )
"""


def _start(db: Database, settings: Settings, dags_dir: Path) -> tuple[Scheduler, RecordingExecutor]:
    """A scheduler whose every tick examines every running run, and a triggered run of the mapped DAG."""
    add_dag(db, dags_dir, "mapped", MAPPED)
    executor = RecordingExecutor()
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, executor)
    trigger(db, sched, "mapped", T0, RUN_ID)
    return sched, executor


def _drive(db: Database, sched: Scheduler, executor: RecordingExecutor, now: datetime, *, limit: int = 60) -> None:
    """Tick and let the worker finish two tries per tick until the run ends."""
    done = 0
    for _ in range(limit):
        sched.tick(now)
        if _run_state(db) is not DagRunState.RUNNING:
            return
        executor.finish(db, executor.submitted[done : done + 2])
        done = min(done + 2, len(executor.submitted))
    raise AssertionError("the run did not finish")


def _run_state(db: Database) -> DagRunState:
    with db.transaction() as session:
        return session.scalars(sa.select(DagRun.state).where(DagRun.run_id == RUN_ID)).one()


def _states(db: Database) -> Counter[TaskInstanceState]:
    with db.transaction() as session:
        return Counter(session.scalars(sa.select(TaskInstance.state).where(TaskInstance.run_id == RUN_ID)))


def _tries(executor: RecordingExecutor) -> Counter[tuple[str, int]]:
    return Counter((w.task_id, w.map_index) for w in executor.submitted)


def _clear(settings: Settings, db: Database, workload: TaskWorkload) -> None:
    """Another process clears one finished task instance through the service layer (the run keeps running)."""
    key = TaskInstanceKey(workload.dag_id, workload.run_id, workload.task_id, workload.map_index)
    result = bulk_task_instances(settings, db, [key], BulkAction.CLEAR, dry_run=False)
    assert len(result.changes) == 1


def test_mapped_run_runs_every_task_instance_once_on_partial_reads(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    sched, executor = _start(db, settings, tmp_path)
    _drive(db, sched, executor, T0)
    assert _run_state(db) is DagRunState.SUCCESS
    assert _states(db) == {TI.SUCCESS: 13}
    assert set(_tries(executor).values()) == {1}
    assert len(_tries(executor)) == 13


def _finish_first_four(db: Database, sched: Scheduler, executor: RecordingExecutor) -> None:
    sched.tick(T0)
    executor.finish(db, executor.submitted[:4])
    sched.tick(T0)  # reads the four rows its executor reported on; four more queued


@pytest.mark.parametrize("announced", [True, False])
def test_a_task_instance_cleared_by_another_process_runs_again(
    settings: Settings, db_any: Database, tmp_path: Path, announced: bool
) -> None:
    sched, executor = _start(db_any, settings, tmp_path)
    _finish_first_four(db_any, sched, executor)
    cleared = executor.submitted[0]
    _clear(settings, db_any, cleared)
    if announced:
        sched.notify_run("mapped", RUN_ID)  # what the PostgreSQL listener does on the clear's event
    now = T0 if announced else T0 + FULL_READ_EVERY
    _drive(db_any, sched, executor, now)
    assert _run_state(db_any) is DagRunState.SUCCESS
    tries = _tries(executor)
    assert tries[(cleared.task_id, cleared.map_index)] == 2  # cleared after its try: one more
    assert sum(tries.values()) == 13 + 1
    assert _states(db_any) == {TI.SUCCESS: 13}


def test_a_run_is_not_finished_from_rows_it_did_not_read_again(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    sched, executor = _start(db, settings, tmp_path)
    while not any(w.task_id == "reduce" for w in executor.submitted):
        sched.tick(T0)
        executor.finish(db, [w for w in executor.submitted if w.task_id == "each"])
    first = executor.submitted[0]
    _clear(settings, db, first)
    executor.finish(db, [executor.submitted[-1]])  # the reduce ends: the kept rows say "all done"
    sched.tick(T0)
    assert _run_state(db) is DagRunState.RUNNING  # the full read before ending saw the reset row
    assert _tries(executor)[(first.task_id, first.map_index)] == 2  # queued again in that tick


def test_a_write_that_moved_fewer_rows_than_planned_means_a_full_read(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    """``plan_applied`` with a short count (another writer was there): the next read is a full one."""
    sched, _ = _start(db, settings, tmp_path)
    sched.tick(T0)
    known = KnownTIs()
    with db.transaction() as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.run_id == RUN_ID)).one()
        first = load_tis(session, run, known=known, now=T0)
        assert first.complete
        assert not load_tis(session, run, known=known, now=T0).complete
        known.plan_applied(("mapped", RUN_ID), RunPlan(skip=(("reduce", -1),)), first.rows, moved=0)
        assert load_tis(session, run, known=known, now=T0).complete
