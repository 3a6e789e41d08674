"""Clear, mark, trigger and delete through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pendulum
import sqlalchemy as sa

from dagflow import DAG
from dagflow.config import Settings
from dagflow.dag_processing.store import store_serialized_dag
from dagflow.db import Database
from dagflow.models import DagModel, DagRun, TaskInstance, XCom, set_dagrun_state, set_ti_state
from dagflow.operators import EmptyOperator
from dagflow.serialization import serialize_dag
from dagflow.services import clearing, dag_runs
from dagflow.state import DagRunState, TaskInstanceState

TI = TaskInstanceState


def _store_dag(db: Database) -> None:
    with DAG("svc_dag", schedule="@daily", start_date=datetime(2024, 1, 1)) as dag:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", retries=3)
        c = EmptyOperator(task_id="c")
        a >> b >> c
    with db.transaction() as session:
        store_serialized_dag(session, serialize_dag(dag), now=pendulum.now("UTC"), paused_at_creation=False)


def _finish(db: Database, run_id: str) -> None:
    with db.transaction() as session:
        tis = session.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == run_id)).all()
        for ti in tis:
            for old, new in (
                (TI.NONE, TI.SCHEDULED),
                (TI.SCHEDULED, TI.QUEUED),
                (TI.QUEUED, TI.RUNNING),
                (TI.RUNNING, TI.FAILED if ti.task_id == "b" else TI.SUCCESS),
            ):
                values = {"try_number": TaskInstance.try_number + 1} if new is TI.RUNNING else None
                set_ti_state(session, [ti.id], to=new, expected=[old], values=values)
        run = session.scalar(sa.select(DagRun).where(DagRun.run_id == run_id))
        set_dagrun_state(session, run.id, to=DagRunState.RUNNING, expected=[DagRunState.QUEUED])
        set_dagrun_state(session, run.id, to=DagRunState.FAILED, expected=[DagRunState.RUNNING])


def test_trigger_clear_mark_delete(db_any: Database, settings: Settings) -> None:
    db = db_any
    _store_dag(db)
    created = dag_runs.trigger_dag(settings, db, "svc_dag", logical_date=pendulum.datetime(2024, 2, 1))
    run_id = created.run_id
    _finish(db, run_id)
    request = clearing.ClearRequest("svc_dag", task_regex="^b$", downstream=True)
    assert {r.task_id for r in clearing.preview_clear(settings, db, request)} == {"b", "c"}
    cleared = clearing.clear_task_instances(settings, db, request)
    assert sorted(r.task_id for r in cleared) == ["b", "c"]
    with db.transaction() as session:
        rows = {
            t.task_id: (t.state, t.try_number, t.max_tries)
            for t in session.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == run_id))
        }
        assert rows == {"a": (TI.SUCCESS, 1, 0), "b": (TI.NONE, 1, 4), "c": (TI.NONE, 1, 1)}
        assert session.scalar(sa.select(DagRun.state).where(DagRun.run_id == run_id)) is DagRunState.QUEUED
    request = clearing.MarkRequest("svc_dag", run_id, "b", TI.SKIPPED, downstream=True)
    marked = clearing.mark_task_instances(settings, db, request)
    assert {(m.ti.task_id, m.previous_state, m.ti.state) for m in marked} == {
        ("b", None, "skipped"),
        ("c", None, "skipped"),
    }
    with db.transaction() as session:
        session.add(XCom(dag_id="svc_dag", run_id=run_id, task_id="a", key="k", value=1))
    assert dag_runs.delete_dag(db, "svc_dag") == dag_runs.DeletedDag("svc_dag", 1)
    with db.transaction() as session:
        for model in (DagModel, DagRun, TaskInstance, XCom):
            assert session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
