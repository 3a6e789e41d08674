"""A run whose plan was empty is not planned again while its inputs read the same (``quiet_runs``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.loop import Scheduler
from dagflow.state import TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, ti_states, trigger

TI = TaskInstanceState
CHAIN = """
    with DAG("chain", schedule=None):
        EmptyOperator(task_id="first", retries=1) >> EmptyOperator(task_id="second")
"""


def _started(fast: Settings, db: Database, tmp_path: Path) -> tuple[Scheduler, RecordingExecutor]:
    dags = tmp_path / "dags"
    dags.mkdir()
    add_dag(db, dags, "chain", CHAIN)
    executor = RecordingExecutor()
    sched = Scheduler(fast.replace(scheduler={"poll_interval": 0.0}), db, executor)
    trigger(db, sched, "chain", T0)
    assert sched.tick(T0).tis_queued == 1
    return sched, executor


def test_an_unchanged_run_is_not_planned_again_until_a_task_instance_moves(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    sched, executor = _started(settings, db, tmp_path)
    sched.tick(T0)  # first queued: the plan is empty, remembered
    report = sched.tick(T0)
    assert (report.runs_examined, report.runs_unchanged) == (1, 1)
    executor.finish(db, executor.submitted)
    report = sched.tick(T0)
    assert report.runs_unchanged == 0
    assert [w.task_id for w in executor.submitted] == ["first", "second"]


def test_a_retry_of_a_quiet_run_is_scheduled_when_it_is_due(settings: Settings, db: Database, tmp_path: Path) -> None:
    """The planner's only clock read (a retry or reschedule becoming due) wakes a quiet run."""
    sched, _ = _started(settings, db, tmp_path)
    due = T0 + timedelta(minutes=5)
    with db.transaction() as session:
        first = session.scalar(sa.select(TaskInstance.id).where(TaskInstance.task_id == "first"))
        assert first is not None
        set_ti_state(session, [first], to=TI.RUNNING, expected=[TI.QUEUED], values={"try_number": 1})
        set_ti_state(session, [first], to=TI.UP_FOR_RETRY, expected=[TI.RUNNING], values={"next_try_at": due})
    assert sched.tick(T0).runs_unchanged == 0  # changed: planned (nothing due yet)
    report = sched.tick(T0 + timedelta(minutes=1))
    assert report.runs_unchanged == 1 and report.next_wakeup is not None and report.next_wakeup <= due
    assert ti_states(db, "chain")["first"] is TI.UP_FOR_RETRY
    sched.tick(due)
    assert ti_states(db, "chain")["first"] in (TI.SCHEDULED, TI.QUEUED)


def test_a_task_switched_off_is_seen_by_a_quiet_run(settings: Settings, db: Database, tmp_path: Path) -> None:
    """``tasks disable`` changes no task instance, but it is part of what the plan depends on."""
    from dagflow.services.task_switches import disable_task

    sched, _ = _started(settings, db, tmp_path)
    sched.tick(T0)
    assert sched.tick(T0).runs_unchanged == 1
    disable_task(db, "chain", "second", reason="off")  # moves the plan marker: the kept switches are read again
    assert sched.tick(T0).runs_unchanged == 0
