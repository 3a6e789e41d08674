"""A pass over many running runs reads the task instances of the small ones in one query (SQLite and PostgreSQL).

``load_tis_of_runs`` must give each run exactly what ``load_tis`` gives it alone, for
small runs (read together) and for runs of DAGs with mapped tasks (read one by one).
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import DagRun
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.ti_reads import load_tis, load_tis_of_runs
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, trigger

SMALL = """
    with DAG("small", schedule=None, max_active_runs=50):
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b") >> EmptyOperator(task_id="c")
"""
MAPPED = """
    from dagflow.operators import BashOperator
    with DAG("mapped", schedule=None, max_active_runs=50):
        EmptyOperator(task_id="a") >> BashOperator.partial(task_id="m").expand(bash_command=["true", "true"])
"""


def _started_runs(db: Database, tmp_path: Path) -> Scheduler:
    """20 runs of a 3-task chain and 5 of a mapped DAG, started and planned once (first tasks queued)."""
    dags = tmp_path / "dags"
    dags.mkdir()
    add_dag(db, dags, "small", SMALL)
    add_dag(db, dags, "mapped", MAPPED)
    sched = Scheduler(db.settings.replace(scheduler={"poll_interval": 0.0}), db, RecordingExecutor())
    for i in range(20):
        trigger(db, sched, "small", T0 + timedelta(seconds=i), f"s{i:02d}")
    for i in range(5):
        trigger(db, sched, "mapped", T0 + timedelta(seconds=i), f"m{i:02d}")
    sched.tick(T0)
    return sched


def test_many_runs_read_together_as_each_alone(db_any: Database, tmp_path: Path) -> None:
    sched = _started_runs(db_any, tmp_path)
    with db_any.transaction() as session:
        runs = list(session.scalars(sa.select(DagRun).order_by(DagRun.id)))
        dags = sched.store.get_many(session, {run.dag_id for run in runs})
        together = load_tis_of_runs(session, [(run, dags[run.dag_id].dag) for run in runs])
        alone = {run.id: load_tis(session, run) for run in runs}
    assert len(runs) == 25
    assert set(together) == set(alone)
    for run_pk, read in alone.items():
        assert together[run_pk].rows == read.rows
        assert sorted(together[run_pk].tis, key=repr) == sorted(read.tis, key=repr)
        assert together[run_pk].complete
    assert {len(alone[run.id].tis) for run in runs if run.dag_id == "small"} == {3}


def test_one_task_instance_query_for_the_small_runs_of_a_pass(db: Database, tmp_path: Path) -> None:
    """SQLite's own trace (it also sees the driver-cursor reads): 1 query for 20 small runs, 1 per mapped run."""
    sched = _started_runs(db, tmp_path)
    statements: list[str] = []
    with db.transaction() as session:
        raw = session.connection().connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.set_trace_callback(statements.append)
        try:
            runs = list(session.scalars(sa.select(DagRun)))
            dags = sched.store.get_many(session, {run.dag_id for run in runs})
            load_tis_of_runs(session, [(run, dags[run.dag_id].dag) for run in runs])
        finally:
            raw.set_trace_callback(None)
    reads = [s for s in statements if "FROM task_instance" in s]
    assert len(reads) == 1 + 5
