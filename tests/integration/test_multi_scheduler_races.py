"""The races between schedulers on PostgreSQL, forced one at a time with two transactions.

Each test holds one "scheduler" transaction open while a second one (another scheduler,
or a trigger) does its part, then checks nobody did anything twice: a run inserted at
a logical date another transaction took costs that one insert, not the tick; two
schedulers never start more runs than ``max_active_runs``; two schedulers never queue
more than a pool holds. Plus the savepoint on SQLite and PostgreSQL.
"""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.cli.dag_files import refresh
from dagflow.config import Settings, load_settings
from dagflow.db import Database
from dagflow.models import DagModel, DagRun, TaskInstance
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.locking import unless_exists
from dagflow.scheduler.queueing import queue_task_instances
from dagflow.scheduler.run_creation import create_due_runs, refresh_next_dagruns
from dagflow.scheduler.run_lifecycle import start_queued_runs
from dagflow.scheduler.tick import TickReport, apply_planned_runs, plan_running_runs
from dagflow.services.dag_runs import serialized_dag, set_paused, trigger_dag
from dagflow.services.pools import set_pool
from dagflow.state import DagRunState, DagRunType, TaskInstanceState

DAGS = """
from datetime import datetime, timezone
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("due_daily", schedule="@daily", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=True):
    EmptyOperator(task_id="t")

with DAG("limited", schedule=None, max_active_runs=1):
    EmptyOperator(task_id="t")

with DAG("pooled", schedule=None, max_active_tasks=50):
    for i in range(6):
        EmptyOperator(task_id=f"t{i}", pool="three")
"""
JAN1 = datetime(2024, 1, 1, tzinfo=UTC)


def _settings(home: Path, url: str) -> Settings:
    return load_settings(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "DAGFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        }
    )


@pytest.fixture(scope="module")
def pg(
    make_pg_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, Database, Database]]:
    """Two schedulers' ``Database``s (own engines) on one migrated PostgreSQL DB with the DAGs parsed."""
    home = tmp_path_factory.mktemp("races")
    (home / "dags").mkdir()
    (home / "dags" / "dags.py").write_text(textwrap.dedent(DAGS))
    settings = _settings(home, make_pg_database())
    first, second = Database(settings), Database(settings)
    first.migrate()
    refresh(settings, first)
    set_pool(first, "three", 3)
    for dag_id in ("due_daily", "limited", "pooled"):
        set_paused(settings, first, dag_id, paused=False)
    yield settings, first, second
    first.dispose()
    second.dispose()


pytestmark = pytest.mark.postgres


def _in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def test_a_due_run_whose_date_a_trigger_took_meanwhile_costs_one_insert_not_the_tick(
    pg: tuple[Settings, Database, Database],
) -> None:
    settings, db, other = pg
    store = SerializedDagStore()
    now = pendulum.datetime(2024, 1, 2, 0, 0, 1, tz="UTC")
    with db.transaction() as session:
        refresh_next_dagruns(session, store, {}, now=now)
    inserted, release = threading.Event(), threading.Event()

    def trigger_at_jan1() -> None:  # commits only after the scheduler tried its own insert
        with other.transaction() as session:
            create_dagrun(
                session,
                dag=serialized_dag(session, "due_daily"),
                run_id="manual__jan1",
                run_type=DagRunType.MANUAL,
                logical_date=JAN1,
                data_interval=(JAN1, JAN1),
                now=now,
            )
            inserted.set()
            release.wait(30)

    trigger, _ = _in_thread(trigger_at_jan1)
    assert inserted.wait(30)
    threading.Timer(0.5, release.set).start()  # the scheduler's insert waits on the trigger's row
    with db.transaction() as session:
        created = create_due_runs(session, store, now=now)  # IntegrityError inside: rolled back alone
        assert created == []
        assert session.get(DagModel, "due_daily").next_dagrun == pendulum.datetime(2024, 1, 2, tz="UTC")
    trigger.join(30)
    with db.transaction(readonly=True) as session:
        runs = session.execute(sa.select(DagRun.run_id).where(DagRun.dag_id == "due_daily")).scalars().all()
    assert runs == ["manual__jan1"]


def test_two_schedulers_never_start_more_runs_than_max_active_runs(pg: tuple[Settings, Database, Database]) -> None:
    settings, db, other = pg
    for day in (1, 2, 3):
        trigger_dag(settings, db, "limited", logical_date=pendulum.datetime(2024, 3, day, tz="UTC"))
    with db.transaction() as first:
        started = start_queued_runs(first, now=pendulum.now("UTC"), default_limit=16)
        assert [run.dag_id for run in started].count("limited") == 1
        # A trigger commits a fourth queued run while the first scheduler has not committed:
        trigger_dag(settings, other, "limited", logical_date=pendulum.datetime(2024, 3, 4, tz="UTC"))
        with other.transaction() as second:  # it must not count 0 running and start that one
            assert start_queued_runs(second, now=pendulum.now("UTC"), default_limit=16) == []
    with db.transaction(readonly=True) as session:
        states = session.execute(sa.select(DagRun.state).where(DagRun.dag_id == "limited")).scalars().all()
    assert sorted(s.value for s in states) == ["queued", "queued", "queued", "running"]


def test_two_schedulers_never_queue_more_than_a_pool_holds(pg: tuple[Settings, Database, Database]) -> None:
    settings, db, other = pg
    for dag_id in ("due_daily", "limited"):  # only this test's DAG has work to queue
        set_paused(settings, db, dag_id, paused=True)
    run_id = trigger_dag(settings, db, "pooled").run_id
    store = SerializedDagStore()
    now = pendulum.now("UTC")
    with db.transaction() as session:
        start_queued_runs(session, now=now, default_limit=16)
        report = TickReport()
        apply_planned_runs(session, plan_running_runs(session, store, report, now=now), report, now=now)

    def queue(database: Database) -> int:
        with database.transaction() as session:
            return len(
                queue_task_instances(
                    session,
                    SerializedDagStore(),
                    slots=10,
                    now=now,
                    max_per_query=3,
                    default_max_active_tasks=16,
                    finish_empty=False,  # its EmptyOperators stand for work that takes a slot
                )
            )

    with db.transaction() as first:
        assert (
            len(
                queue_task_instances(
                    first, store, slots=10, now=now, max_per_query=3, default_max_active_tasks=16, finish_empty=False
                )
            )
            == 3
        )
        second, result = _in_thread(lambda: queue(other))  # waits for the first one's commit
        time.sleep(0.5)
        assert second.is_alive()
    second.join(30)
    assert result == [0]  # it counted the three the first one queued: the pool is full
    with db.transaction(readonly=True) as session:
        states = (
            session.execute(
                sa.select(TaskInstance.state).where(TaskInstance.dag_id == "pooled", TaskInstance.run_id == run_id)
            )
            .scalars()
            .all()
        )
    assert sorted(s.value for s in states) == ["queued"] * 3 + ["scheduled"] * 3


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_unless_exists_rolls_back_only_the_losing_insert(dialect: str, request: pytest.FixtureRequest) -> None:
    db: Database = request.getfixturevalue("db" if dialect == "sqlite" else "pg_db")
    when = pendulum.datetime(2024, 5, 1, tz="UTC")
    with db.transaction() as session:
        session.add(DagRun(dag_id="d", run_id="kept", logical_date=when, state=DagRunState.QUEUED))
        session.flush()

        def duplicate() -> DagRun:
            run = DagRun(dag_id="d", run_id="lost", logical_date=when, state=DagRunState.QUEUED)
            session.add(run)
            session.flush()
            return run

        assert unless_exists(session, duplicate, "run d/lost") is None
        assert unless_exists(session, lambda: DagRun(dag_id="d", run_id="x", logical_date=when), "x") is not None
        session.add(TaskInstance(dag_id="d", run_id="kept", task_id="t", state=TaskInstanceState.NONE))
    with db.transaction(readonly=True) as session:
        assert session.execute(sa.select(DagRun.run_id)).scalars().all() == ["kept"]
        assert session.execute(sa.select(TaskInstance.task_id)).scalars().all() == ["t"]
