"""A chain's tick: what it sends to the database, and what it keeps between ticks while the plan marker stays.

A tick of a chain (one try ended, its downstream to schedule and queue) reads the plan
marker and its DAG's stored hash on the running-runs query itself, checks that hash once
per tick (not once per transaction on SQLite), keeps the task switches while the marker
does not move, and reads the pools with their deferred slots in one query. A
``tasks disable`` moves the marker, so a kept switch list is never used stale.
SQLite and PostgreSQL both.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.scheduler.loop import Scheduler
from dagflow.services.task_switches import disable_task
from dagflow.state import TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, ti_states, trigger

TI = TaskInstanceState
CHAIN = """
from dagflow.operators import PythonOperator
def noop():
    pass
with DAG("c", schedule=None, start_date=pendulum.datetime(2024, 1, 1)):
    prev = None
    for i in range(6):
        task = PythonOperator(task_id=f"t{i}", python_callable=noop)
        if prev is not None:
            prev >> task
        prev = task
"""


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


def started(db: Database, dags_dir: Path) -> tuple[Scheduler, RecordingExecutor]:
    """The chain's run started and its first task queued (default settings: between full passes after that)."""
    add_dag(db, dags_dir, "c", CHAIN)
    executor = RecordingExecutor()
    sched = Scheduler(db.settings, db, executor)
    trigger(db, sched, "c", T0, "r1")
    sched.tick(T0)
    sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["t0"]
    return sched, executor


def next_link(db: Database, sched: Scheduler, executor: RecordingExecutor) -> list[str]:
    """The last queued try succeeds; one tick schedules and queues its downstream: the statements it sent."""
    executor.finish(db, executor.submitted[-1:])
    sent: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = sched.tick(T0)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert report.tis_queued == 1
    return sent


def test_a_chain_tick_reads_the_marker_and_the_dag_hash_on_the_runs_query(
    settings: Settings, db_any: Database, dags_dir: Path
) -> None:
    sched, executor = started(db_any, dags_dir)
    for _ in range(3):
        sent = next_link(db_any, sched, executor)
        runs_reads = [s for s in sent if "FROM dag_run" in s and s.lstrip().startswith("SELECT dag_run.id")]
        assert len(runs_reads) == 1 and "plan_marker" in runs_reads[0] and "serialized_dag" in runs_reads[0]
        marker_reads = [s for s in sent if s.lstrip().startswith("SELECT value FROM state_store")]
        assert len(marker_reads) == 1  # the write transaction's, before applying (the read's rides on the runs query)
        assert not any(s.lstrip().startswith("SELECT serialized_dag.") for s in sent)
        assert not any("FROM task_switch" in s for s in sent)  # kept while the marker stays
        assert sum("FROM pool" in s for s in sent) == 1  # sizes and deferred slots in one read
        expected = 9 if db_any.dialect == "sqlite" else 8  # SQLite: two BEGINs among them
        assert len(sent) == expected, sent
    assert [w.task_id for w in executor.submitted] == ["t0", "t1", "t2", "t3"]


def test_a_task_disabled_between_ticks_is_seen_although_the_switches_are_kept(
    settings: Settings, db_any: Database, dags_dir: Path
) -> None:
    sched, executor = started(db_any, dags_dir)
    next_link(db_any, sched, executor)  # the switches (none) are kept from here on
    disable_task(db_any, "c", "t2", run_id="r1", reason="not today")  # moves the marker
    executor.finish(db_any, executor.submitted[-1:])  # t1 succeeds
    sched.tick(T0)
    states = ti_states(db_any, "c")
    assert states["t2"] is TI.SKIPPED
    assert states["t3"] is TI.QUEUED  # a disabled task counts as success downstream
    assert [w.task_id for w in executor.submitted] == ["t0", "t1", "t3"]
