"""Round trips, unique keys and cascades of the metadata models."""

from __future__ import annotations

import pendulum
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dagflow.db import Database
from dagflow.execution.try_end import TryRecord, end_try
from dagflow.models import (
    Backfill,
    Connection,
    DagModel,
    DagRun,
    ImportError_,
    Job,
    Pool,
    SerializedDagModel,
    SlaMiss,
    StateStoreEntry,
    TaskInstance,
    TaskInstanceHistory,
    TaskMap,
    User,
    Variable,
    XCom,
)
from dagflow.models.pool import DEFAULT_POOL_NAME, DEFAULT_POOL_SLOTS
from dagflow.state import TaskInstanceState
from tests.unit.models._factories import add_run, add_tis

NOW = pendulum.datetime(2024, 5, 1, 8, tz="UTC")


def test_default_pool_exists(db_any: Database) -> None:
    with db_any.transaction() as session:
        pool = session.get_one(Pool, DEFAULT_POOL_NAME)
    assert (pool.slots, pool.include_deferred) == (DEFAULT_POOL_SLOTS, False)


def test_every_model_round_trips(db_any: Database) -> None:
    with db_any.transaction() as session:
        backfill = Backfill(dag_id="d", from_date=NOW, to_date=NOW.add(days=3), dag_run_conf={"x": 1})
        session.add(backfill)
        session.flush()
        session.add_all(
            [
                DagModel(dag_id="d", fileloc="/dags/d.py", tags=["t"], next_dagrun=NOW),
                SerializedDagModel(dag_id="d", fileloc="/dags/d.py", data={"version": 1}, dag_hash="abc"),
                ImportError_(filename="/dags/bad.py", lineno=3, message="boom", stacktrace="..."),
                Job(job_type="scheduler", hostname="h", pid=1),
                Variable(key="v", val="1"),
                StateStoreEntry(namespace="default", key="k", value={"a": 1}),
                User(username="ann", password_hash="x", role="admin"),
                Connection(conn_id="c", conn_type="postgres", host="db", port=5432, extra='{"sslmode":"require"}'),
                SlaMiss(dag_id="d", task_id="t", run_id="r", expected_by=NOW, late_by_seconds=12.5),
            ]
        )
        run = DagRun(dag_id="d", run_id="r", logical_date=NOW, conf={"k": "v"}, backfill_id=backfill.id)
        session.add(run)
        session.flush()
        ti = TaskInstance(dag_id="d", run_id="r", task_id="t", executor_config={"cpu": 1})
        session.add(ti)
        session.add(XCom(dag_id="d", run_id="r", task_id="t", value=[1, 2]))
        session.add(TaskMap(dag_id="d", run_id="r", task_id="t", map_index=-1, length=2))
    with db_any.transaction() as session:
        assert session.get_one(DagModel, "d").next_dagrun == NOW
        assert session.get_one(SerializedDagModel, "d").data == {"version": 1}
        assert session.get_one(Backfill, backfill.id).dag_run_conf == {"x": 1}
        loaded = session.scalars(sa.select(DagRun)).one()
        assert (loaded.conf, loaded.backfill_id, loaded.external_trigger) == ({"k": "v"}, backfill.id, False)
        assert [t.task_id for t in loaded.task_instances] == ["t"]
        assert loaded.task_instances[0].dag_run is loaded
        assert session.scalars(sa.select(XCom.value)).one() == [1, 2]
        assert session.scalars(sa.select(TaskMap.length)).one() == 2
        assert session.get_one(Connection, "c").get_extra(None) == {"sslmode": "require"}
        assert session.scalars(sa.select(SlaMiss.late_by_seconds)).one() == 12.5
        job = session.scalars(sa.select(Job)).one()
        assert job.is_alive(now=job.latest_heartbeat.add(seconds=1), timeout=pendulum.duration(seconds=5))
        assert not job.is_alive(now=job.latest_heartbeat.add(seconds=10), timeout=pendulum.duration(seconds=5))


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(
            lambda: [
                DagRun(dag_id="d", run_id="r", logical_date=NOW),
                DagRun(dag_id="d", run_id="r", logical_date=NOW.add(days=1)),
            ],
            id="dag_run.run_id",
        ),
        pytest.param(
            lambda: [
                DagRun(dag_id="d", run_id="a", logical_date=NOW),
                DagRun(dag_id="d", run_id="b", logical_date=NOW),
            ],
            id="dag_run.logical_date",
        ),
        pytest.param(
            lambda: [User(username="u", password_hash="x"), User(username="u", password_hash="y")], id="user.username"
        ),
        pytest.param(
            lambda: [
                SlaMiss(dag_id="d", task_id="t", run_id="r", expected_by=NOW),
                SlaMiss(dag_id="d", task_id="t", run_id="r", expected_by=NOW),
            ],
            id="sla_miss",
        ),
    ],
)
def test_unique_keys(db_any: Database, rows: object) -> None:
    with pytest.raises(IntegrityError), db_any.transaction() as session:
        for row in rows():  # type: ignore[operator]
            session.add(row)
            session.flush()


def test_task_instance_and_xcom_keys_are_unique(db_any: Database) -> None:
    with db_any.transaction() as session:
        run = add_run(session)
    with pytest.raises(IntegrityError), db_any.transaction() as session:
        session.add(TaskInstance(dag_id=run.dag_id, run_id=run.run_id, task_id="t", map_index=0))
        session.add(TaskInstance(dag_id=run.dag_id, run_id=run.run_id, task_id="t", map_index=0))
        session.flush()
    with pytest.raises(IntegrityError), db_any.transaction() as session:
        for _ in range(2):
            session.add(XCom(dag_id=run.dag_id, run_id=run.run_id, task_id="t", key="k", value=1))
            session.flush()


def test_task_instance_needs_its_run(db_any: Database) -> None:
    with pytest.raises(IntegrityError), db_any.transaction() as session:
        session.add(TaskInstance(dag_id="d", run_id="missing", task_id="t"))


def test_deleting_a_run_deletes_its_rows(db_any: Database) -> None:
    with db_any.transaction() as session:
        run = add_run(session)
        (ti,) = add_tis(session, run)
        session.flush()
        end_try(session, ti.id, TryRecord(TaskInstanceState.FAILED, "boom"))
        session.add(XCom(dag_id=run.dag_id, run_id=run.run_id, task_id="t0", value=1))
        session.add(TaskMap(dag_id=run.dag_id, run_id=run.run_id, task_id="t0", map_index=-1, length=1))
    with db_any.transaction() as session:
        session.delete(session.get_one(DagRun, run.id))
    with db_any.transaction() as session:
        for model in (TaskInstance, TaskInstanceHistory, XCom, TaskMap):
            assert session.scalar(sa.select(sa.func.count()).select_from(model)) == 0, model


def test_deleting_a_backfill_keeps_its_runs(db_any: Database) -> None:
    with db_any.transaction() as session:
        backfill = Backfill(dag_id="d", from_date=NOW, to_date=NOW)
        session.add(backfill)
        session.flush()
        session.add(DagRun(dag_id="d", run_id="r", logical_date=NOW, backfill_id=backfill.id))
    with db_any.transaction() as session:
        session.execute(sa.delete(Backfill))
    with db_any.transaction() as session:
        assert session.scalars(sa.select(DagRun.backfill_id)).one() is None


@pytest.mark.parametrize(
    ("fields", "uri"),
    [
        (
            {
                "conn_type": "postgres",
                "host": "db.example",
                "port": 5432,
                "login": "me",
                "password": "p@ss/w:rd",
                "schema": "warehouse",
            },
            "postgres://me:p%40ss%2Fw%3Ard@db.example:5432/warehouse",
        ),
        ({"conn_type": "http", "host": "api", "extra": {"timeout": "5"}}, "http://api?timeout=5"),
        ({"conn_type": "google_cloud", "extra": {"n": 1, "deep": {"a": [1]}}}, None),
    ],
)
def test_connection_uri_round_trip(fields: dict[str, object], uri: str | None) -> None:
    fields = dict(fields)
    extra = fields.pop("extra", None)
    conn = Connection(conn_id="c", **fields)
    conn.set_extra(extra, None)  # type: ignore[arg-type]
    if uri is not None:
        assert conn.get_uri() == uri
    back = Connection.from_uri("c", conn.get_uri())
    for name in ("conn_type", "host", "port", "login", "password", "schema"):
        assert getattr(back, name) == getattr(conn, name), name
    assert back.get_extra(None) == conn.get_extra(None) == (extra or {})
