"""Run management for many DAGs: a pass costs its statements, not one per run or per due DAG.

``start_queued_runs`` starts every run it may (oldest first, under each DAG's
``max_active_runs``) with one ``UPDATE``; ``create_due_runs`` neither locks nor reads a
due DAG that is at its ``max_active_runs``. Two schedulers on PostgreSQL doing both at
once start and create each run exactly once and never run more than the limit.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import Backfill, DagModel, DagRun
from dagflow.models.transitions import set_dagrun_state
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.run_creation import create_due_runs
from dagflow.scheduler.run_lifecycle import start_queued_runs
from dagflow.services.dag_runs import trigger_dag
from dagflow.state import DagRunState
from tests.integration.due_runs import database_with_dags

DAGS = """
from datetime import datetime, timezone
from dagflow import DAG
from dagflow.operators import EmptyOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
for n in range(6):
    with DAG(f"hourly_{n}", schedule="@hourly", start_date=START, catchup=True, max_active_runs=3):
        EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")

with DAG("manual", schedule=None, max_active_runs=2):
    EmptyOperator(task_id="t")
"""
HOURLY = [f"hourly_{n}" for n in range(6)]
#: 24 hourly runs of each hourly DAG are due.
NOW = pendulum.datetime(2024, 1, 2, 0, 0, 1, tz="UTC")
DUE_PER_DAG = 24


def _database(home: Path, url: str) -> tuple[Settings, Database]:
    return database_with_dags(home, url, DAGS, [*HOURLY, "manual"], now=NOW)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db.sqlite"
    make_pg_database: Callable[[], str] = request.getfixturevalue("make_pg_database")
    return make_pg_database()


@contextmanager
def _statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "BEGIN", "SET ", "SHOW ")):
            seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)


def _states(db: Database) -> Counter[tuple[str, str]]:
    with db.transaction(readonly=True) as session:
        rows = session.execute(sa.select(DagRun.dag_id, DagRun.state)).all()
    return Counter((dag_id, DagRunState(state).value) for dag_id, state in rows)


def test_a_pass_starts_every_run_it_may_with_one_update(url: str, tmp_path: Path) -> None:
    settings, db = _database(tmp_path, url)
    for day in (5, 3, 4, 1, 2):  # five queued runs of a DAG that may run two: the two oldest start
        trigger_dag(settings, db, "manual", logical_date=pendulum.datetime(2024, 3, day, tz="UTC"))
    with db.transaction() as session:
        assert len(create_due_runs(session, SerializedDagStore(), now=NOW)) == 6 * 3
    with _statements(db) as statements, db.transaction() as session:
        started = start_queued_runs(session, now=NOW, default_limit=16)
    updates = [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    assert len(started) == 6 * 3 + 2
    assert len(updates) == 1  # one per run before
    assert len(statements) == 3  # the queued runs (DAG rows locked), the running counts, the update
    with db.transaction(readonly=True) as session:
        manual = session.execute(
            sa.select(DagRun.logical_date, DagRun.state).where(DagRun.dag_id == "manual").order_by(DagRun.logical_date)
        ).all()
        start_dates = set(session.scalars(sa.select(DagRun.start_date).where(DagRun.state == DagRunState.RUNNING)))
    assert [DagRunState(state).value for _, state in manual] == ["running", "running", "queued", "queued", "queued"]
    assert start_dates == {NOW}
    assert {(run.dag_id, run.run_id) for run in started} == {
        (dag_id, run_id)
        for dag_id, run_id in _running_keys(db)  # what came back is what moved
    }
    with _statements(db) as statements, db.transaction() as session:
        assert start_queued_runs(session, now=NOW, default_limit=16) == []
    assert not [s for s in statements if s.lstrip().upper().startswith("UPDATE")]
    db.dispose()


def _running_keys(db: Database) -> set[tuple[str, str]]:
    with db.transaction(readonly=True) as session:
        rows = session.execute(sa.select(DagRun.dag_id, DagRun.run_id).where(DagRun.state == DagRunState.RUNNING))
        return {(dag_id, run_id) for dag_id, run_id in rows}


def test_a_due_dag_at_its_limit_is_neither_locked_nor_read(url: str, tmp_path: Path) -> None:
    _, db = _database(tmp_path, url)
    store = SerializedDagStore()
    with db.transaction() as session:
        assert len(create_due_runs(session, store, now=NOW)) == 6 * 3
    with _statements(db) as statements, db.transaction() as session:
        assert create_due_runs(session, store, now=NOW) == []
    assert len(statements) == 1  # the due DAGs with room: none (before: 6 DAGs locked, read and counted)
    with db.transaction() as session:  # one run of hourly_2 ends: that DAG alone has room
        pk = session.scalar(
            sa.select(DagRun.id).where(DagRun.dag_id == "hourly_2").order_by(DagRun.logical_date).limit(1)
        )
        assert pk is not None
        assert set_dagrun_state(session, pk, to=DagRunState.SUCCESS, expected=[DagRunState.QUEUED])
    with db.transaction() as session:
        created = create_due_runs(session, store, now=NOW)
    assert [(run.dag_id, run.logical_date.hour) for run in created] == [("hourly_2", 3)]
    db.dispose()


def test_a_dag_whose_active_runs_are_a_backfills_still_gets_its_scheduled_runs(url: str, tmp_path: Path) -> None:
    """A backfill's runs count against the backfill's limit, also an existing run it re-runs.

    Such a run keeps its run type (``scheduled``) and gets the backfill's id: it must not
    hold the DAG at its own ``max_active_runs``.
    """
    _, db = _database(tmp_path, url)
    store = SerializedDagStore()
    with db.transaction() as session:
        assert len(create_due_runs(session, store, now=NOW)) == 6 * 3
        backfill = Backfill(dag_id="hourly_0", from_date=NOW.subtract(days=1), to_date=NOW, max_active_runs=3)
        session.add(backfill)
        session.flush()
        session.execute(sa.update(DagRun).where(DagRun.dag_id == "hourly_0").values(backfill_id=backfill.id))
    with db.transaction() as session:
        created = create_due_runs(session, store, now=NOW)
    assert sorted((run.dag_id, run.logical_date.hour) for run in created) == [("hourly_0", h) for h in (3, 4, 5)]
    db.dispose()


def test_a_dag_row_without_a_stored_limit_is_read(url: str, tmp_path: Path) -> None:
    """A DAG row whose ``max_active_runs`` is NULL is due like any other (its DAG's own limit applies)."""
    _, db = _database(tmp_path, url)
    with db.transaction() as session:
        session.execute(sa.update(DagModel).values(max_active_runs=None))
    with db.transaction() as session:
        created = create_due_runs(session, SerializedDagStore(), now=NOW)
    assert Counter(run.dag_id for run in created) == dict.fromkeys(HOURLY, 3)
    db.dispose()


@pytest.mark.postgres
def test_two_schedulers_create_and_start_each_run_once_under_the_limit(
    make_pg_database: Callable[[], str], tmp_path: Path
) -> None:
    """Both loop: create due runs, start queued ones, end the running ones; every run once, ≤ 3 running."""
    settings, db = _database(tmp_path, make_pg_database())
    other = Database(settings)
    begin = threading.Barrier(2)
    started: list[int] = []
    over_limit: list[Counter[str]] = []
    errors: list[BaseException] = []

    def scheduler(database: Database) -> None:
        store = SerializedDagStore()
        try:
            begin.wait(30)
            for _ in range(400):
                with database.transaction() as session:
                    create_due_runs(session, store, now=NOW, limit=7)
                    runs = start_queued_runs(session, now=NOW, default_limit=16)
                    started.extend(run.id for run in runs)
                    running = Counter(
                        session.scalars(sa.select(DagRun.dag_id).where(DagRun.state == DagRunState.RUNNING))
                    )
                    if any(count > 3 for count in running.values()):
                        over_limit.append(running)
                    for pk in [run.id for run in runs][::2]:  # end half of what it started
                        set_dagrun_state(session, pk, to=DagRunState.SUCCESS, expected=[DagRunState.RUNNING])
                with database.transaction() as session:  # and, in another transaction, whatever runs
                    pks = session.scalars(sa.select(DagRun.id).where(DagRun.state == DagRunState.RUNNING).limit(3))
                    for pk in list(pks):
                        set_dagrun_state(session, pk, to=DagRunState.SUCCESS, expected=[DagRunState.RUNNING])
                states = _states(database)
                if all(states[(dag_id, "success")] == DUE_PER_DAG for dag_id in HOURLY) and not _active(database):
                    return
        except BaseException as err:  # reported by the test
            errors.append(err)

    threads = [threading.Thread(target=scheduler, args=(d,), daemon=True) for d in (db, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    assert not errors
    assert not over_limit
    assert len(started) == len(set(started))  # no run started twice
    states = _states(db)
    assert {dag_id: states[(dag_id, "success")] for dag_id in HOURLY} == dict.fromkeys(HOURLY, DUE_PER_DAG)
    assert len(started) == 6 * DUE_PER_DAG  # each created run started once
    with db.transaction(readonly=True) as session:
        keys = session.execute(sa.select(DagRun.dag_id, DagRun.logical_date)).all()
    assert len(keys) == len(set(keys)) == 6 * DUE_PER_DAG
    db.dispose()
    other.dispose()


def _active(db: Database) -> int:
    states = _states(db)
    return sum(count for (_, state), count in states.items() if state in ("queued", "running"))
