"""The scheduler's hot-path queries use indexes: no full scan of task_instance, dag_run or xcom.

The SQL is not copied here: a ``before_cursor_execute`` listener records every statement
the real code sends while a small DAG (a mapped task over an upstream's result, then a
reduce) runs to its end through an unscoped ``Scheduler`` (running runs, a run's task
instances, queueing candidates, slot counts) with an in-process ``InlineExecutor`` (the
claim and the record of each try, ``dagflow/execution/claim.py`` and ``record.py``).
The database first gets 5 000 finished task instances in 500 runs and an XCom each
(``benchmarks/seeding.py``, the bulk seeding of the history benchmark), so a plan that
walks a table walks real rows. Each recorded statement that reads or writes one of the
three tables is then explained with its own parameters:

- SQLite (no ``ANALYZE``: dagflow never runs it, so deployments plan without statistics):
  ``EXPLAIN QUERY PLAN``; ``SCAN <table>`` (with or without a covering index) is
  a full scan, ``SEARCH <table> USING ...`` is not;
- PostgreSQL: ``EXPLAIN (FORMAT JSON)`` with ``enable_seqscan`` off (so the planner's
  preference for a sequential scan of a small table does not hide a missing index): a
  ``Seq Scan`` on the table, or an index scan whose ``Index Cond`` does not bound the
  index's leading column (a walk of the whole index), is a full scan.

No timing is measured.
"""

from __future__ import annotations

import re
import textwrap
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from benchmarks.seeding import seed_history
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.ti_reads import _many_runs_sql
from dagflow.services.dag_runs import trigger_dag

TABLES = ("task_instance", "dag_run", "xcom")
DAG_FILE = """
from datetime import datetime

from dagflow import dag, task


@dag(dag_id="plans", schedule=None, start_date=datetime(2024, 1, 1), catchup=False)
def plans():
    @task
    def numbers():
        return [1, 2, 3]

    @task
    def double(x):
        return 2 * x

    @task
    def total(values):
        return sum(values)

    total(double.expand(x=numbers()))


plans()
"""


@dataclass
class Recorded:
    """One statement the code sent, its parameters and where in dagflow it came from."""

    sql: str
    parameters: Any
    origin: str


@pytest.fixture
def recorder() -> Iterator[list[Recorded]]:
    """Every statement executed in this process while the fixture is active."""
    seen: list[Recorded] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if executemany and isinstance(parameters, list | tuple) and parameters:
            parameters = parameters[0]
        seen.append(Recorded(statement, parameters, _origin()))

    sa.event.listen(sa.Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", record)


def _origin() -> str:
    """The dagflow frames (``module:function``) of the current stack, innermost first."""
    frames = [
        f"{frame.filename.split('/dagflow/')[-1]}:{frame.name}"
        for frame in reversed(traceback.extract_stack())
        if "/dagflow/" in frame.filename and "/sqlalchemy/" not in frame.filename
    ]
    return " < ".join(frames[:6]) or "?"


def _run_to_end(db: Database) -> None:
    settings = db.settings
    dags = settings.core.dags_folder
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "plans.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [dags], paused_at_creation=False)
    scheduler = Scheduler(settings, db, InlineExecutor(settings, db=db, fork=False))
    run = trigger_dag(settings, db, "plans", run_id="plans_run")
    deadline = time.monotonic() + 120
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            scheduler.tick()
            state = conn.execute(
                sa.text("SELECT state FROM dag_run WHERE dag_id = 'plans' AND run_id = :r"), {"r": run.run_id}
            ).scalar()
            conn.rollback()
            if state in ("success", "failed"):
                break
    assert state == "success"


def _touches(sql: str) -> list[str]:
    return [t for t in TABLES if re.search(rf"\b{t}\b", sql, re.IGNORECASE)]


def _full_scans(db: Database, recorded: Recorded) -> list[str]:
    """The tables among ``TABLES`` that ``recorded``'s plan walks in full."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if db.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + recorded.sql, recorded.parameters or ())
            details = [row[-1] for row in cursor.fetchall()]
            return [t for t in TABLES for d in details if re.match(rf"SCAN {t}\b", d)]
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + recorded.sql, recorded.parameters or None)
        plan = cursor.fetchone()[0]
        return [t for node in _nodes(plan[0]["Plan"]) for t in _pg_full_scan(cursor, node)]
    finally:
        raw.rollback()
        raw.close()


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _pg_full_scan(cursor: Any, node: dict[str, Any]) -> list[str]:
    """A sequential scan of one of ``TABLES``, or an index scan whose condition does not bound the
    index's leading column (PostgreSQL can match a later column by walking the whole index)."""
    kind = node["Node Type"]
    if kind == "Seq Scan":
        return [node["Relation Name"]] if node["Relation Name"] in TABLES else []
    if kind not in ("Index Scan", "Index Only Scan", "Bitmap Index Scan"):
        return []
    cursor.execute(
        "SELECT t.relname, a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] WHERE c.relname = %s",
        (node["Index Name"],),
    )
    table, leading = cursor.fetchone()
    if table not in TABLES:
        return []
    condition = node.get("Index Cond", "")
    return [] if re.search(rf"\(\(?{leading}\b", condition) else [table]


def test_hot_path_queries_use_indexes(db_any: Database, recorder: list[Recorded]) -> None:
    """Every statement the scheduler, the claim and the record send finds its rows through an index."""
    seed_history(db_any.engine, dag_ids=["hist_a", "hist_b", "plans"], runs=500, tasks_per_run=10, with_xcom=True)
    if db_any.engine.dialect.name == "postgresql":  # statistics, as autovacuum gives a deployment
        with db_any.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    recorder.clear()
    _run_to_end(db_any)
    statements = [r for r in recorder if _touches(r.sql) and not r.sql.lstrip().upper().startswith("INSERT")]
    origins = {r.origin for r in statements}
    for expected in ("execution/claim.py", "execution/record.py", "scheduler/"):
        assert any(expected in origin for origin in origins), (expected, sorted(origins))
    scans = {}
    for recorded in statements:
        tables = _full_scans(db_any, recorded)
        if tables:
            scans[f"{recorded.origin}: {' '.join(recorded.sql.split())[:300]}"] = tables
    assert not scans, "\n".join(f"{k} -> full scan of {v}" for k, v in scans.items())


def test_the_task_instances_of_many_runs_are_read_through_indexes(db_any: Database) -> None:
    """``load_tis_of_runs`` reads with the driver's cursor (no SQLAlchemy event sees it): explain its SQL here.

    50 running runs beside 1 000 finished ones (with a fifth of the table wanted, PostgreSQL
    rightly prefers hashing the whole table).
    """
    seed_history(db_any.engine, dag_ids=["hist_a", "hist_b"], runs=500, tasks_per_run=10, with_xcom=False)
    if db_any.engine.dialect.name == "postgresql":
        with db_any.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    with db_any.engine.connect() as conn:
        run_pks = list(conn.execute(sa.text("SELECT id FROM dag_run ORDER BY id LIMIT 50")).scalars())
    sql = _many_runs_sql(db_any.engine.dialect, run_pks)
    assert _full_scans(db_any, Recorded(sql, None, "scheduler/ti_reads.py:load_tis_of_runs")) == []
