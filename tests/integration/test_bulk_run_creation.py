"""Scheduled runs are created in bulk (one insert of the runs, one of their task instances).

The bulk path must make exactly the rows the one-by-one path makes, each (DAG, logical
date) once even with two schedulers creating at the same time on PostgreSQL, and a date
taken by a trigger in between costs that one run, not the rest of the batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import DagModel, DagRun, TaskInstance
from dagflow.scheduler import run_creation
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.run_creation import create_due_runs
from dagflow.services.dag_runs import serialized_dag, set_paused
from dagflow.state import DagRunType
from tests.integration.due_runs import database_with_dags

DAGS = """
from datetime import datetime, timezone
from dagflow import DAG
from dagflow.operators import EmptyOperator

START = datetime(2024, 1, 1, tzinfo=timezone.utc)
for n in range(4):
    with DAG(f"hourly_{n}", schedule="@hourly", start_date=START, catchup=True, max_active_runs=30):
        a = EmptyOperator(task_id="a", pool="p1", priority_weight=3)
        a >> [EmptyOperator(task_id="b", retries=2, queue="q2"), EmptyOperator(task_id="c", pool_slots=2)]

with DAG("daily", schedule="@daily", start_date=START, catchup=True):
    EmptyOperator(task_id="t")
"""
DAG_IDS = [f"hourly_{n}" for n in range(4)] + ["daily"]
#: 72 hourly runs of each hourly DAG are due (30 made: max_active_runs), and 3 daily ones.
NOW = pendulum.datetime(2024, 1, 4, 0, 0, 1, tz="UTC")
JAN2 = datetime(2024, 1, 2, tzinfo=UTC)
#: Columns that differ between two creations of the same row.
VOLATILE = {"id", "updated_at"}


def _database(home: Path, url: str) -> tuple[Settings, Database]:
    return database_with_dags(home, url, DAGS, DAG_IDS, now=NOW)


def _rows(db: Database) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every run and task instance, without the columns that differ between two creations."""

    def plain(table: sa.Table, order: list[sa.Column[Any]]) -> list[dict[str, Any]]:
        with db.transaction(readonly=True) as session:
            rows = session.execute(sa.select(table).order_by(*order)).mappings().all()
        return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]

    runs, tis = DagRun.__table__, TaskInstance.__table__
    return plain(runs, [runs.c.dag_id, runs.c.logical_date]), plain(tis, [tis.c.dag_id, tis.c.run_id, tis.c.task_id])


def _create_all(db: Database) -> int:
    """Passes of ``create_due_runs`` until nothing more is due; the runs created."""
    store, total = SerializedDagStore(), 0
    while True:
        with db.transaction() as session:
            created = len(create_due_runs(session, store, now=NOW, limit=50))
        total += created
        if not created:
            return total


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    if request.param == "sqlite":
        counter = iter(range(100))
        return lambda: f"sqlite:///{tmp_path}/db{next(counter)}.sqlite"
    make_pg_database: Callable[[], str] = request.getfixturevalue("make_pg_database")
    return make_pg_database


def test_bulk_creation_makes_the_rows_one_by_one_creation_makes(
    url_factory: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, bulk = _database(tmp_path / "bulk", url_factory())
    assert _create_all(bulk) == 4 * 30 + 3
    _, single = _database(tmp_path / "single", url_factory())

    def one_by_one(session: Any, due: Any, *, now: datetime) -> list[DagRun]:
        made = (run_creation._create_run(session, dag, info, now) for dag, info in due)
        return [run for run in made if run is not None]

    monkeypatch.setattr(run_creation, "_insert_runs", one_by_one)
    assert _create_all(single) == 4 * 30 + 3
    bulk_runs, bulk_tis = _rows(bulk)
    single_runs, single_tis = _rows(single)
    assert len(bulk_runs) == 123 and len(bulk_tis) == 4 * 30 * 3 + 3
    assert bulk_runs == single_runs
    assert bulk_tis == single_tis
    bulk.dispose()
    single.dispose()


@pytest.mark.postgres
def test_two_schedulers_creating_at_once_make_each_run_once(
    make_pg_database: Callable[[], str], tmp_path: Path
) -> None:
    settings, db = _database(tmp_path, make_pg_database())
    other = Database(settings)
    start = threading.Barrier(2)
    made: list[int] = []

    def scheduler(database: Database) -> None:
        start.wait(30)
        made.append(_create_all(database))

    threads = [threading.Thread(target=scheduler, args=(d,), daemon=True) for d in (db, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sum(made) == 4 * 30 + 3
    runs, tis = _rows(db)
    keys = [(run["dag_id"], run["logical_date"]) for run in runs]
    assert len(keys) == len(set(keys)) == 123
    per_run: dict[tuple[str, str], int] = {}
    for ti in tis:
        per_run[(ti["dag_id"], ti["run_id"])] = per_run.get((ti["dag_id"], ti["run_id"]), 0) + 1
    assert per_run == {(run["dag_id"], run["run_id"]): 1 if run["dag_id"] == "daily" else 3 for run in runs}
    db.dispose()
    other.dispose()


@pytest.mark.postgres
def test_a_date_a_trigger_takes_during_the_batch_costs_that_run_only(
    make_pg_database: Callable[[], str], tmp_path: Path
) -> None:
    settings, db = _database(tmp_path, make_pg_database())
    for dag_id in DAG_IDS[:-1]:
        set_paused(settings, db, dag_id, paused=True)
    other = Database(settings)
    inserted, release = threading.Event(), threading.Event()

    def trigger_at_jan2() -> None:  # commits after the scheduler read the taken dates and tried its insert
        with other.transaction() as session:
            create_dagrun(
                session,
                dag=serialized_dag(session, "daily"),
                run_id="manual__jan2",
                run_type=DagRunType.MANUAL,
                logical_date=JAN2,
                data_interval=(JAN2, JAN2),
                now=NOW,
            )
            inserted.set()
            release.wait(30)

    thread = threading.Thread(target=trigger_at_jan2, daemon=True)
    thread.start()
    assert inserted.wait(30)
    threading.Timer(0.5, release.set).start()  # the batch insert waits on the trigger's row, then clashes
    with db.transaction() as session:
        created = create_due_runs(session, SerializedDagStore(), now=NOW)
        assert sorted(run.run_id for run in created) == [
            "scheduled__2024-01-01T00:00:00+00:00",
            "scheduled__2024-01-03T00:00:00+00:00",
        ]
        assert session.get(DagModel, "daily").next_dagrun == pendulum.datetime(2024, 1, 4, tz="UTC")
    thread.join(30)
    runs, tis = _rows(db)
    assert [run["run_id"] for run in runs] == [
        "scheduled__2024-01-01T00:00:00+00:00",
        "manual__jan2",
        "scheduled__2024-01-03T00:00:00+00:00",
    ]
    assert sorted(ti["run_id"] for ti in tis) == sorted(run["run_id"] for run in runs)
    db.dispose()
    other.dispose()


def test_a_pass_makes_every_dags_oldest_run_before_any_dags_next(
    url_factory: Callable[[], str], tmp_path: Path
) -> None:
    """Runs across the due DAGs oldest logical date first: each DAG's first run in the first pass."""
    _, db = _database(tmp_path / "order", url_factory())
    store = SerializedDagStore()
    with db.transaction() as session:
        first = create_due_runs(session, store, now=NOW, limit=len(DAG_IDS))
    assert sorted((r.dag_id, r.logical_date) for r in first) == sorted(
        (dag_id, datetime(2024, 1, 1, tzinfo=UTC)) for dag_id in DAG_IDS
    )
    with db.transaction() as session:
        second = create_due_runs(session, store, now=NOW, limit=4)
    assert {r.logical_date for r in second} == {datetime(2024, 1, 1, 1, tzinfo=UTC)}
    assert _create_all(db) == 4 * 30 + 3 - len(first) - len(second)  # each (DAG, date) once, as before
