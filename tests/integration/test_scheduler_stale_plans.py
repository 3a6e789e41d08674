"""A tick's plans read before a concurrent write, applied after it: nothing wrong is written.

On SQLite a tick reads and plans in a read transaction and writes in a later one; on
PostgreSQL the reads and the writes are statements of one READ COMMITTED transaction.
Either way a real write (a clear, another scheduler's pass) commits between the read and
the write here, deterministically: between ``plan_running_runs`` and
``apply_planned_runs``, or inside ``Scheduler.tick`` through a hook on the planning half.
SQLite and PostgreSQL both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import DagRun, TaskInstance, plan_marker
from dagflow.models.transitions import set_dagrun_state, set_ti_state
from dagflow.scheduler import loop
from dagflow.scheduler.clearing import clear_task_instance
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import delete_dagrun, find_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.run_scheduling import schedule_run
from dagflow.scheduler.tick import PlannedRun, TickReport, apply_planned_runs, plan_running_runs
from dagflow.state import DagRunState, TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, trigger

TI = TaskInstanceState
RUN = "manual_1"


@pytest.fixture
def fast(db_any: Database) -> Settings:
    """Every tick examines every running run."""
    return db_any.settings.replace(scheduler={"poll_interval": 0.0})


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


def plan(db: Database, store: SerializedDagStore, now: datetime = T0) -> list[PlannedRun]:
    """The read half of a tick, in its own read transaction."""
    with db.transaction(readonly=True) as session:
        return plan_running_runs(session, store, TickReport(), now=now)


def apply(db: Database, planned: list[PlannedRun], now: datetime = T0) -> TickReport:
    """The write half of a tick, in its own write transaction."""
    report = TickReport()
    with db.transaction() as session:
        apply_planned_runs(session, planned, report, now=now)
    return report


def clear(db: Database, store: SerializedDagStore, task_id: str) -> None:
    """A user's clear of one task instance of the run (the rule ``tasks clear`` uses), committed."""
    with db.transaction() as session:
        entry = store.get(session, "d")
        ti = session.scalars(sa.select(TaskInstance).where(TaskInstance.task_id == task_id)).one()
        assert entry is not None and clear_task_instance(session, entry.dag, ti)


def states(db: Database) -> dict[tuple[str, int], TaskInstanceState]:
    with db.transaction(readonly=True) as session:
        rows = session.execute(sa.select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state))
        return {(task_id, index): state for task_id, index, state in rows}


def run_state(db: Database) -> DagRunState:
    with db.transaction(readonly=True) as session:
        return session.scalars(sa.select(DagRun.state).where(DagRun.run_id == RUN)).one()


def started(fast: Settings, db: Database, dags_dir: Path, body: str) -> tuple[Scheduler, RecordingExecutor]:
    """DAG ``d`` from ``body``, one manual run of it started by a first tick."""
    add_dag(db, dags_dir, "d", body)
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "d", T0, RUN)
    sched.tick(T0)
    return sched, executor


CHAIN = """
with DAG("d", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


def finish_everything(sched: Scheduler, executor: RecordingExecutor, db: Database) -> None:
    """Run ``a``, then ``b``, to success (the run is not finished yet: no tick after ``b``)."""
    executor.finish(db, executor.submitted)
    sched.tick(T0)
    executor.finish(db, executor.submitted[1:])
    assert states(db) == {("a", -1): TI.SUCCESS, ("b", -1): TI.SUCCESS}


def kept_running_then_rerun(db: Database, sched: Scheduler, report: TickReport) -> None:
    """The pass finished nothing, the run is still running, and the next tick runs the cleared ``b`` again."""
    assert report.runs_finished == 0
    assert run_state(db) is DagRunState.RUNNING
    sched.tick(T0)
    assert states(db)[("b", -1)] is TI.QUEUED


def test_a_run_is_not_finished_when_a_task_instance_was_cleared_after_the_read(
    fast: Settings, db_any: Database, dags_dir: Path
) -> None:
    db = db_any
    sched, executor = started(fast, db, dags_dir, CHAIN)
    finish_everything(sched, executor, db)
    planned = plan(db, sched.store)
    assert [p.plan.run_state for p in planned if p.plan] == [DagRunState.SUCCESS]
    clear(db, sched.store, "b")
    report = apply(db, planned)
    assert report.next_wakeup == T0  # replanned at once
    assert states(db)[("b", -1)] is TI.NONE
    kept_running_then_rerun(db, sched, report)


def test_a_downstream_is_not_scheduled_when_its_upstream_was_cleared_after_the_read(
    fast: Settings, db_any: Database, dags_dir: Path
) -> None:
    db = db_any
    sched, executor = started(fast, db, dags_dir, CHAIN)
    executor.finish(db, executor.submitted)  # a succeeded; b is still none
    planned = plan(db, sched.store)
    assert [p.plan.schedule for p in planned if p.plan] == [(("b", -1),)]
    clear(db, sched.store, "a")  # a clear of a and b leaves b's none row alone
    apply(db, planned)
    assert states(db) == {("a", -1): TI.NONE, ("b", -1): TI.NONE}
    sched.tick(T0)
    assert states(db) == {("a", -1): TI.QUEUED, ("b", -1): TI.NONE}


def test_a_tick_does_not_finish_a_run_cleared_between_its_read_and_its_write(
    fast: Settings, db_any: Database, dags_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same race through ``Scheduler.tick``: the clear commits right after the tick planned."""
    db = db_any
    sched, executor = started(fast, db, dags_dir, CHAIN)
    finish_everything(sched, executor, db)

    def plan_then_clear(*args: object, **kwargs: object) -> list[PlannedRun]:
        planned: list[PlannedRun] = plan_running_runs(*args, **kwargs)  # type: ignore[arg-type]
        clear(db, sched.store, "b")  # on SQLite the tick's read transaction is still open here
        return planned

    monkeypatch.setattr(loop, "plan_running_runs", plan_then_clear)
    report = sched.tick(T0)
    monkeypatch.undo()
    kept_running_then_rerun(db, sched, report)


def test_a_task_instance_another_pass_created_after_the_read_is_not_created_twice(
    fast: Settings, db_any: Database, dags_dir: Path
) -> None:
    db = db_any
    sched, _ = started(fast, db, dags_dir, CHAIN)
    add_dag(
        db,
        dags_dir,
        "d",
        CHAIN.replace('EmptyOperator(task_id="b")', 'EmptyOperator(task_id="b") >> EmptyOperator(task_id="c")'),
    )
    planned = plan(db, sched.store)
    assert [p.plan.create for p in planned if p.plan] == [("c",)]
    with db.transaction() as session:  # another pass over the run creates c first
        run = find_dagrun(session, dag_id="d", run_id=RUN)
        entry = sched.store.get(session, "d")
        assert run is not None and entry is not None
        schedule_run(session, run=run, dag=entry.dag, now=T0)
    apply(db, planned)
    with db.transaction(readonly=True) as session:
        count = session.scalar(sa.select(sa.func.count()).where(TaskInstance.task_id == "c"))
    assert count == 1
    assert states(db)[("c", -1)] is TI.NONE


MAPPED = """
from dagflow.operators import BashOperator
with DAG("d", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> BashOperator.partial(task_id="m").expand(bash_command=["1", "2", "3"])
"""


def test_a_mapped_task_is_expanded_once_when_two_plans_of_it_are_applied(
    fast: Settings, db_any: Database, dags_dir: Path
) -> None:
    db = db_any
    sched, executor = started(fast, db, dags_dir, MAPPED)
    executor.finish(db, executor.submitted)  # a succeeded: m may expand
    first, second = plan(db, sched.store), plan(db, sched.store)
    assert [p.plan.expand for p in first if p.plan] == [{"m": 3}]
    apply(db, first)
    apply(db, second)  # stale: the placeholder is gone, nothing is added
    mapped = {key: state for key, state in states(db).items() if key[0] == "m"}
    assert mapped == {("m", 0): TI.SCHEDULED, ("m", 1): TI.SCHEDULED, ("m", 2): TI.SCHEDULED}


# --- the plan marker: the checks' reads only when a write that can stale a plan committed ---
def tick_statements(db: Database, sched: Scheduler) -> tuple[TickReport, list[str]]:
    """One tick, and the SQL statements it sent (SQLAlchemy's cursor events)."""
    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(" ".join(statement.split()))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = sched.tick(T0)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return report, sent


def stale_check_reads(sent: list[str]) -> list[str]:
    """The checks' reads: ``still_running`` and the task-instance states of ``plan_is_stale``."""
    return [
        s
        for s in sent
        if s.startswith("SELECT dag_run.id FROM dag_run WHERE dag_run.id IN")
        or s.startswith("SELECT task_instance.id, task_instance.state FROM task_instance")
    ]


def marker(db: Database) -> str:
    with db.transaction(readonly=True) as session:
        return plan_marker.read(session)


def test_the_checks_read_nothing_when_no_write_moved_the_marker_since_the_read(
    fast: Settings, db_any: Database, dags_dir: Path
) -> None:
    """A worker's claim and result do not move the marker: the pass scheduling ``b`` skips the checks' reads."""
    db = db_any
    sched, executor = started(fast, db, dags_dir, CHAIN)
    before = marker(db)
    executor.finish(db, executor.submitted)  # a: queued -> running -> success, as a worker does
    assert marker(db) == before
    report, sent = tick_statements(db, sched)
    assert states(db)[("b", -1)] is TI.QUEUED
    assert report.runs_checked_stale == 0
    assert stale_check_reads(sent) == []


def test_a_clear_between_the_read_and_the_write_moves_the_marker_and_is_caught(
    fast: Settings, db_any: Database, dags_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through ``Scheduler.tick``: ``a`` cleared after the plan to schedule ``b`` was read; ``b`` stays ``none``."""
    db = db_any
    sched, executor = started(fast, db, dags_dir, CHAIN)
    executor.finish(db, executor.submitted)
    before = marker(db)

    def plan_then_clear(*args: object, **kwargs: object) -> list[PlannedRun]:
        planned: list[PlannedRun] = plan_running_runs(*args, **kwargs)  # type: ignore[arg-type]
        assert [p.plan.schedule for p in planned if p.plan] == [(("b", -1),)]
        clear(db, sched.store, "a")
        return planned

    monkeypatch.setattr(loop, "plan_running_runs", plan_then_clear)
    report, sent = tick_statements(db, sched)
    monkeypatch.undo()
    assert marker(db) != before
    assert report.runs_checked_stale == 1
    assert stale_check_reads(sent) != []
    assert states(db) == {("a", -1): TI.NONE, ("b", -1): TI.NONE}
    sched.tick(T0)
    assert states(db) == {("a", -1): TI.QUEUED, ("b", -1): TI.NONE}


def test_which_writes_move_the_marker(fast: Settings, db_any: Database, dags_dir: Path) -> None:
    """Out of ``none`` or a finished state, a run out of ``running``, a delete: yes; forward moves, the scheduler: no."""
    db = db_any
    sched, executor = started(fast, db, dags_dir, CHAIN)
    ids = {w.task_id: w.ti_id for w in executor.submitted}

    def moves(change: Callable[[Session], object], *, scheduler: bool = False) -> bool:
        before = marker(db)
        with db.transaction() as session:
            if scheduler:
                plan_marker.scheduler_session(session)
            change(session)
        return marker(db) != before

    executor.finish(db, executor.submitted)
    with db.transaction(readonly=True) as session:
        b = session.scalars(sa.select(TaskInstance.id).where(TaskInstance.task_id == "b")).one()
        run_pk = session.scalars(sa.select(DagRun.id)).one()
    assert moves(lambda s: set_ti_state(s, [b], to=TI.SCHEDULED, expected=[TI.NONE]), scheduler=True) is False
    assert moves(lambda s: set_ti_state(s, [b], to=TI.QUEUED, expected=[TI.SCHEDULED])) is False
    assert moves(lambda s: set_ti_state(s, [ids["a"]], to=TI.FAILED, expected=[TI.SUCCESS])) is True  # a mark
    assert moves(lambda s: set_ti_state(s, [b], to=TI.SUCCESS, expected=[TI.QUEUED])) is False
    assert moves(lambda s: set_dagrun_state(s, run_pk, to=DagRunState.SUCCESS, expected=[DagRunState.RUNNING]))
    assert moves(lambda s: delete_dagrun(s, dag_id="d", run_id=RUN)) is True


JOIN = """
from dagflow.operators import BashOperator
with DAG("d", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
    [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")] >> EmptyOperator(task_id="c")
    BashOperator.partial(task_id="m").expand(bash_command=["1"])  # a mapped task: the run's rows are kept
"""


def test_a_clear_before_the_read_of_a_row_the_scheduler_keeps_is_seen(
    fast: Settings, db_any: Database, dags_dir: Path
) -> None:
    """``a`` is kept as ``success`` from an earlier tick, then cleared (no event names it); ``b`` ends: ``c`` waits."""
    db = db_any
    sched, executor = started(fast, db, dags_dir, JOIN)
    first = {w.task_id: w for w in executor.submitted}
    executor.finish(db, [first["a"]])
    sched.tick(T0)  # reads a by key and keeps it
    clear(db, sched.store, "a")
    executor.finish(db, [first["b"]])
    sched.tick(T0)  # b's event: the marker moved since the last read, so the whole run is read again
    joined = {key: state for key, state in states(db).items() if key[0] != "m"}
    assert joined == {("a", -1): TI.QUEUED, ("b", -1): TI.SUCCESS, ("c", -1): TI.NONE}
