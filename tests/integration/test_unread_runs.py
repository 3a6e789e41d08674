"""On PostgreSQL a full pass neither locks nor reads a quiet run whose task instances did not change (``unread_runs``)."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.clearing import clear_task_instance
from dagflow.scheduler.loop import Scheduler
from dagflow.services.task_switches import disable_task
from dagflow.state import TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, ti_states, trigger

pytestmark = pytest.mark.postgres
TI = TaskInstanceState
CHAIN = """
    with DAG("chain", schedule=None):
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
"""


def _quiet(settings: Settings, db: Database, tmp_path: Path) -> tuple[Scheduler, RecordingExecutor]:
    """A scheduler whose one run waits on its queued first task, and has been found quiet once."""
    dags = tmp_path / "dags"
    dags.mkdir()
    add_dag(db, dags, "chain", CHAIN)
    executor = RecordingExecutor()
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, executor)
    trigger(db, sched, "chain", T0)
    assert sched.tick(T0).tis_queued == 1
    sched.tick(T0)  # examined: quiet
    return sched, executor


def test_a_quiet_run_is_not_read_again_until_a_task_instance_moves(
    settings: Settings, pg_db: Database, tmp_path: Path
) -> None:
    sched, executor = _quiet(settings, pg_db, tmp_path)
    report = sched.tick(T0)
    assert (report.runs_unread, report.runs_examined) == (1, 0)
    executor.finish(pg_db, executor.submitted)  # a worker's write: no event reaches this scheduler's pass
    sched._dirty.clear()
    report = sched.tick(T0)
    assert (report.runs_unread, report.runs_examined) == (0, 1)
    assert [w.task_id for w in executor.submitted] == ["first", "second"]


def test_a_pass_leaves_a_quiet_run_unlocked(settings: Settings, pg_db: Database, tmp_path: Path) -> None:
    """Another scheduler can lock the quiet run while this one's full pass is open."""
    sched, _ = _quiet(settings, pg_db, tmp_path)
    seen: list[list[int]] = []
    during = threading.Event()

    def other_scheduler() -> None:
        with pg_db.transaction() as session:
            locked = sa.select(DagRun.id).with_for_update(skip_locked=True)
            seen.append(list(session.scalars(locked)))
        during.set()

    original = sched._queue

    def queue_then_look(*args: object, **kwargs: object) -> object:
        thread = threading.Thread(target=other_scheduler)
        thread.start()
        thread.join(timeout=30)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    sched._queue = queue_then_look  # type: ignore[method-assign]
    assert sched.tick(T0).runs_unread == 1
    assert during.is_set() and len(seen[0]) == 1


def test_a_quiet_run_is_read_again_after_a_clear_a_switch_or_reread_every(
    settings: Settings, pg_db: Database, tmp_path: Path
) -> None:
    sched, _ = _quiet(settings, pg_db, tmp_path)
    assert sched.tick(T0).runs_unread == 1
    disable_task(pg_db, "chain", "second", reason="off")  # moves the plan marker, as every switch does
    assert sched.tick(T0).runs_unread == 0  # the switches changed: every run read
    assert sched.tick(T0).runs_unread == 1
    later = T0 + sched.unread_runs.reread_every + timedelta(seconds=1)
    assert sched.tick(later).runs_unread == 0
    assert sched.tick(later).runs_unread == 1
    with pg_db.transaction() as session:
        entry = sched.store.get(session, "chain")
        ti = session.scalars(sa.select(TaskInstance).where(TaskInstance.task_id == "first")).one()
        assert entry is not None and clear_task_instance(session, entry.dag, ti)
    report = sched.tick(later)
    assert report.runs_unread == 0 and report.runs_examined == 1
    assert ti_states(pg_db, "chain")["first"] in (TI.SCHEDULED, TI.QUEUED)


def test_an_event_tick_locks_only_its_runs(settings: Settings, pg_db: Database, tmp_path: Path) -> None:
    """Runs of two DAGs share run ids: the event tick locks the pairs it was told about, not their cross product."""
    dags = tmp_path / "dags"
    dags.mkdir()
    add_dag(pg_db, dags, "chain", CHAIN)
    add_dag(pg_db, dags, "other", CHAIN.replace('"chain"', '"other"'))
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 60.0}), pg_db, RecordingExecutor())
    for dag_id in ("chain", "other"):
        for n in (1, 2):
            trigger(pg_db, sched, dag_id, T0.add(minutes=n), run_id=f"manual_{n}")
    sched.tick(T0)  # a full pass
    sched.notify_run("chain", "manual_1")
    sched.notify_run("other", "manual_2")
    seen = _lockable_during_tick(sched, pg_db, T0)
    assert sorted(seen) == [("chain", "manual_2"), ("other", "manual_1")]


def _lockable_during_tick(sched: Scheduler, db: Database, now: object) -> list[tuple[str, str]]:
    """The runs another transaction can lock ``SKIP LOCKED`` while ``sched``'s tick holds its locks."""
    seen: list[tuple[str, str]] = []
    original = sched._queue

    def queue_then_look(*args: object, **kwargs: object) -> object:
        def other() -> None:
            with db.transaction() as session:
                locked = sa.select(DagRun.dag_id, DagRun.run_id).with_for_update(skip_locked=True)
                seen.extend((d, r) for d, r in session.execute(locked))

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=30)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    sched._queue = queue_then_look  # type: ignore[method-assign]
    sched.tick(now)  # type: ignore[arg-type]
    return seen
