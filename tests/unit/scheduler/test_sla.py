"""The SLA checker through ``Scheduler.tick(now)`` with a fake clock (SQLite and PostgreSQL).

``@daily`` DAG, run for 2024-01-03 (``data_interval_end`` 2024-01-04 00:00): ``a`` has an
SLA of 1 h, ``b`` of 2 h, ``c`` of 30 min, ``d`` none. The test plays the workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import SlaMiss, TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.sla import SlaCallbackRequest
from dagflow.state import TaskInstanceState
from tests.unit.scheduler.test_reaper import FakeCallbacks
from tests.unit.scheduler.test_tick import RecordingExecutor, add_dag, trigger

TI = TaskInstanceState
MIDNIGHT = pendulum.datetime(2024, 1, 4, tz="UTC")

SLA_DAG = """
    def on_sla_miss(dag, task_list, blocking_task_list, slas, blocking_tis):
        with open({marker!r}, "a") as fh:
            fh.write(f"{{dag.dag_id}}|{{task_list}}|{{[s.task_id for s in slas]}}\\n")

    with DAG("{dag_id}", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1),
             sla_miss_callback=on_sla_miss):
        EmptyOperator(task_id="a", sla=timedelta(hours=1))
        EmptyOperator(task_id="b", sla="PT2H")
        EmptyOperator(task_id="c", sla=timedelta(minutes=30))
        EmptyOperator(task_id="d")
"""


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


def scheduler(
    db: Database, dags_dir: Path, marker: Path, *, check_slas: bool = True, callbacks: Any = None
) -> tuple[Scheduler, Any]:
    add_dag(db, dags_dir, "s", SLA_DAG.format(dag_id="s", marker=str(marker)))
    settings = db.settings.replace(
        scheduler={"poll_interval": 0.0, "heartbeat_interval": 5.0, "check_slas": check_slas}
    )
    callbacks = callbacks if callbacks is not None else FakeCallbacks()
    return Scheduler(settings, db, RecordingExecutor(), callbacks=callbacks), callbacks


def finish(db: Database, task_id: str, at: datetime, run_type: str = "scheduled") -> None:
    """Play a worker: the task's queued try runs and succeeds at ``at``."""
    with db.transaction() as session:
        (ti_id,) = session.execute(
            sa.select(TaskInstance.id).where(TaskInstance.task_id == task_id, TaskInstance.run_id.startswith(run_type))
        ).one()
        set_ti_state(session, [ti_id], to=TI.RUNNING, expected=[TI.QUEUED], values={"try_number": 1, "start_date": at})
        set_ti_state(session, [ti_id], to=TI.SUCCESS, expected=[TI.RUNNING], values={"end_date": at})


def misses(db: Database) -> list[tuple[str, str, int, datetime, float, bool]]:
    with db.transaction() as session:
        rows = session.execute(
            sa.select(
                SlaMiss.task_id,
                SlaMiss.run_id,
                SlaMiss.map_index,
                SlaMiss.expected_by,
                SlaMiss.late_by_seconds,
                SlaMiss.callback_ran,
            ).order_by(SlaMiss.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_misses_are_recorded_once_with_how_late(db_any: Database, dags_dir: Path, tmp_path: Path) -> None:
    sched, callbacks = scheduler(db_any, dags_dir, tmp_path / "sla.txt")
    sched.tick(MIDNIGHT + timedelta(minutes=1))  # the run for 2024-01-03 starts: a, b, c, d queued
    finish(db_any, "a", MIDNIGHT + timedelta(minutes=45))  # in time (deadline 01:00)
    finish(db_any, "c", MIDNIGHT + timedelta(minutes=50))  # 20 min late (deadline 00:30)
    sched.tick(MIDNIGHT + timedelta(minutes=55))
    run_id = "scheduled__2024-01-03T00:00:00+00:00"
    assert misses(db_any) == [("c", run_id, -1, MIDNIGHT + timedelta(minutes=30), 1200.0, False)]
    sched.tick(MIDNIGHT + timedelta(hours=1, minutes=30))  # a was in time; b's deadline is 02:00
    assert len(misses(db_any)) == 1
    sched.tick(MIDNIGHT + timedelta(hours=2, minutes=30))  # b still queued: late by 30 min so far
    sched.tick(MIDNIGHT + timedelta(hours=2, minutes=40))
    finish(db_any, "b", MIDNIGHT + timedelta(hours=3))
    sched.tick(MIDNIGHT + timedelta(hours=3, minutes=10))  # not recorded again once it ends
    assert [(task, late) for task, _, _, _, late, _ in misses(db_any)] == [("c", 1200.0), ("b", 1800.0)]
    batches = [r for r in callbacks.requests if isinstance(r, SlaCallbackRequest)]
    assert [[m.task_id for m in r.misses] for r in batches] == [["c"], ["b"]]
    assert batches[1].misses[0].expected_by == MIDNIGHT + timedelta(hours=2)


def test_check_slas_false_and_manual_runs_record_nothing(db: Database, dags_dir: Path, tmp_path: Path) -> None:
    sched, callbacks = scheduler(db, dags_dir, tmp_path / "sla.txt", check_slas=False)
    sched.tick(MIDNIGHT + timedelta(minutes=1))
    sched.tick(MIDNIGHT + timedelta(hours=5))
    assert misses(db) == [] and callbacks.requests == []
    sched.settings = sched.settings.replace(scheduler={"check_slas": True})
    with db.transaction() as session:  # only the manual run is left unfinished
        session.execute(sa.update(TaskInstance).values(state=TI.SUCCESS, end_date=MIDNIGHT))
    trigger(db, sched, "s", MIDNIGHT - timedelta(days=2))
    sched.tick(MIDNIGHT + timedelta(hours=6))
    sched.tick(MIDNIGHT + timedelta(hours=7))
    assert misses(db) == []


def test_sla_miss_callback_runs_once_in_a_process(db: Database, dags_dir: Path, tmp_path: Path) -> None:
    from dagflow.scheduler.dag_callbacks import CallbackRunner

    marker = tmp_path / "sla.txt"
    runner = CallbackRunner(db.settings)
    sched, _ = scheduler(db, dags_dir, marker, callbacks=runner)
    sched.tick(MIDNIGHT + timedelta(minutes=1))
    sched.tick(MIDNIGHT + timedelta(hours=3))  # a, b and c late in one batch
    sched.tick(MIDNIGHT + timedelta(hours=4))
    runner.wait(120)
    day = "2024-01-03T00:00:00+00:00"
    assert marker.read_text() == f"s|a on {day}\nb on {day}\nc on {day}|['a', 'b', 'c']\n"
    assert [ran for *_, ran in misses(db)] == [True, True, True]
