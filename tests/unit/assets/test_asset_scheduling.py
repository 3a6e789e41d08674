"""Assets through the real scheduler: producers record events (with extra), consumers run when their condition holds.

One DAG folder, one database, one scheduler with the inline executor (each try forked
through the real task runner): ``produce_orders`` and ``produce_customers`` record events;
``needs_both`` (``schedule=[orders, customers]``) and ``needs_either``
(``schedule=orders | customers``) run as ``asset_triggered`` runs that consume them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.models import AssetDagRunQueue, AssetEvent, DagModel, DagRun, DagRunAssetEvent, XCom
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.services.assets import list_asset_events, list_assets
from dagflow.state import DagRunState, DagRunType

DAGS = """
import pendulum
from dagflow import DAG, Asset, Dataset, task
from dagflow.operators import PythonOperator

START = pendulum.datetime(2024, 1, 1, tz="UTC")
orders = Asset("s3://lake/orders.parquet", name="orders", group="sales", extra={"owner": "ops"})
customers = Dataset("s3://lake/customers.parquet")


def write_orders(outlet_events):
    outlet_events[orders].extra = {"rows": 10}


with DAG("produce_orders", schedule=None, start_date=START):
    PythonOperator(task_id="write", python_callable=write_orders, outlets=[orders])

with DAG("produce_customers", schedule=None, start_date=START):
    @task(outlets=[customers])
    def write_customers():
        return "ok"

    write_customers()


def seen(inlet_events, triggering_asset_events, dag_run):
    return {
        "run_type": dag_run.run_type,
        "orders": [e.extra for e in inlet_events[orders]],
        "customers": [e.source_dag_id for e in inlet_events[customers]],
        "uris": sorted(triggering_asset_events),
    }


with DAG("needs_both", schedule=[orders, customers], start_date=START):
    PythonOperator(task_id="read", python_callable=seen, inlets=[orders, customers])

with DAG("needs_either", schedule=(orders | customers), start_date=START):
    PythonOperator(task_id="read", python_callable=seen)
"""


@pytest.fixture
def world(db_any: Database) -> Iterator[tuple[Database, Scheduler]]:
    """The asset DAGs stored in a fresh database (SQLite, and PostgreSQL) and a scheduler with the inline executor."""
    db, settings = db_any, db_any.settings
    folder = settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "asset_dags.py").write_text(textwrap.dedent(DAGS))
    sync_folders(db, [folder], paused_at_creation=False)
    scheduler = Scheduler(settings, db, InlineExecutor(settings, db=db))
    yield db, scheduler
    scheduler.shutdown()


def _trigger(db: Database, dag_id: str) -> None:
    now = pendulum.now("UTC")
    with db.transaction() as session:
        entry = SerializedDagStore().get(session, dag_id)
        assert entry is not None
        create_dagrun(
            session,
            dag=entry.dag,
            run_id=f"manual__{dag_id}_{now.timestamp()}",
            run_type=DagRunType.MANUAL,
            logical_date=now,
            data_interval=(now, now),
            now=now,
        )


def _settle(scheduler: Scheduler, ticks: int = 40) -> None:
    """Full-pass ticks until no run is queued or running (inline executor: tries end within a tick)."""
    for _ in range(ticks):
        scheduler._full_pass_at = None  # every tick a full pass: runs created and started at once
        scheduler.tick()
        with scheduler.db.transaction(readonly=True) as session:
            active = session.scalar(
                sa.select(sa.func.count()).where(DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
            )
        if not active:
            scheduler._full_pass_at = None
            scheduler.tick()  # one more pass: runs made from events recorded by the last tries
            with scheduler.db.transaction(readonly=True) as session:
                active = session.scalar(
                    sa.select(sa.func.count()).where(DagRun.state.in_([DagRunState.QUEUED, DagRunState.RUNNING]))
                )
            if not active:
                return
    raise AssertionError("runs did not settle")


def _runs(db: Database, dag_id: str) -> list[tuple[str, str, int]]:
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(DagRun.run_type, DagRun.state, DagRun.id).where(DagRun.dag_id == dag_id).order_by(DagRun.id)
        ).all()
    return [(t, s.value, i) for t, s, i in rows]


def _seen(db: Database, dag_id: str) -> list[dict[str, object]]:
    with db.transaction(readonly=True) as session:
        values = session.scalars(
            sa.select(XCom.value).where(XCom.dag_id == dag_id, XCom.task_id == "read").order_by(XCom.id)
        ).all()
    return [json.loads(v) if isinstance(v, str) else v for v in values]


def test_any_runs_per_event_all_waits_for_every_asset(world: tuple[Database, Scheduler]) -> None:
    db, scheduler = world
    _trigger(db, "produce_orders")
    _settle(scheduler)

    assert [(t, s) for t, s, _ in _runs(db, "needs_either")] == [("asset_triggered", "success")]
    assert _runs(db, "needs_both") == []  # customers has no event yet: the queue keeps orders
    with db.transaction(readonly=True) as session:
        queued = session.execute(sa.select(AssetDagRunQueue.target_dag_id)).scalars().all()
    assert queued == ["needs_both"]
    first = _seen(db, "needs_either")[0]
    assert first["orders"] == [{"rows": 10}] and first["uris"] == ["s3://lake/orders.parquet"]

    _trigger(db, "produce_customers")
    _settle(scheduler)

    both = _runs(db, "needs_both")
    assert [(t, s) for t, s, _ in both] == [("asset_triggered", "success")]
    seen = _seen(db, "needs_both")[0]
    assert seen == {
        "run_type": "asset_triggered",
        "orders": [{"rows": 10}],
        "customers": ["produce_customers"],
        "uris": ["s3://lake/customers.parquet", "s3://lake/orders.parquet"],
    }
    # needs_either ran again for customers and consumed only the new event.
    either = _runs(db, "needs_either")
    assert [s for _, s, _ in either] == ["success", "success"]
    with db.transaction(readonly=True) as session:
        consumed = session.scalar(
            sa.select(sa.func.count()).select_from(DagRunAssetEvent).where(DagRunAssetEvent.dag_run_id == either[1][2])
        )
        assert consumed == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(AssetDagRunQueue)) == 0


def test_paused_consumer_is_not_queued_and_services_list_events(world: tuple[Database, Scheduler]) -> None:
    db, scheduler = world
    with db.transaction() as session:
        session.execute(sa.update(DagModel).where(DagModel.dag_id == "needs_either").values(is_paused=True))
    _trigger(db, "produce_orders")
    _settle(scheduler)
    assert _runs(db, "needs_either") == []
    with db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(AssetEvent)) == 1
    assets = {a.uri: a for a in list_assets(db)}
    events = list_asset_events(db, uri="s3://lake/orders.parquet")
    orders = assets["s3://lake/orders.parquet"]
    assert (orders.name, orders.group, orders.extra) == ("orders", "sales", {"owner": "ops"})
    assert assets["s3://lake/customers.parquet"].name == "s3://lake/customers.parquet"
    assert orders.consuming_dags == ["needs_both", "needs_either"]
    assert orders.producing_tasks == ["produce_orders.write"]
    assert [(e.source_dag_id, e.source_task_id, e.extra) for e in events] == [("produce_orders", "write", {"rows": 10})]
