"""DAG-run services: trigger a run, read a run's state, list runs, pause, delete a DAG."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import DagNotFound, DagRunAlreadyExists, DagRunNotFound
from dagflow.execution.events import RUN_QUEUED, publish
from dagflow.models import DagModel, DagRun, ImportError_, SerializedDagModel
from dagflow.models.backfill import Backfill
from dagflow.models.sla_miss import SlaMiss
from dagflow.scheduler.dagruns import create_dagrun, find_dagrun, generate_run_id
from dagflow.sdk.ids import check_run_id
from dagflow.serialization import SerializedDag, deserialize_dag
from dagflow.serialization.params import validate_conf
from dagflow.services.dags import refresh
from dagflow.services.database import ensure_schema
from dagflow.services.reports import iso, run_summary
from dagflow.state import DagRunState, DagRunType
from dagflow.timetables import timetable_from_dict


def serialized_dag(session: Session, dag_id: str) -> SerializedDag:
    """The stored serialized DAG; ``DagNotFound`` if the DB does not know it."""
    stored = session.get(SerializedDagModel, dag_id)
    if stored is None:
        raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
    return deserialize_dag(stored.data)


def ensure_dag_known(settings: Settings, db: Database, dag_id: str) -> None:
    """Create the schema if needed; parse the DAG folders in-process when ``dag_id`` is unknown."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        known = session.get(SerializedDagModel, dag_id) is not None
    if not known:
        refresh(settings, db)


def trigger_dag(
    settings: Settings,
    db: Database,
    dag_id: str,
    *,
    conf: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    logical_date: datetime | None = None,
) -> dict[str, Any]:
    """Create a queued manual run (the scheduler starts it); returns its id, date and state.

    The one service behind ``dagflow dags trigger`` and the REST API: ``conf`` is checked
    against the DAG's params first (``InvalidConf``), and nothing is written when it fails.
    """
    if run_id is not None:
        check_run_id(run_id)
    ensure_dag_known(settings, db, dag_id)
    now = pendulum.now("UTC")
    when = pendulum.instance(logical_date).in_tz("UTC") if logical_date else now
    run_id = run_id or generate_run_id(DagRunType.MANUAL, when)
    with db.transaction() as session:
        sdag = serialized_dag(session, dag_id)
        validate_conf(sdag, conf)
        _refuse_same_date(session, dag_id, when)
        run = create_dagrun(
            session,
            dag=sdag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            logical_date=when,
            data_interval=manual_data_interval(sdag, when),
            conf=conf,
            external_trigger=True,
            now=now,
        )
        publish(session, RUN_QUEUED, dag_id=dag_id, run_id=run.run_id)  # schedulers hear it at commit
        return {"dag_id": dag_id, "run_id": run.run_id, "logical_date": iso(when), "state": run.state.value}


def manual_data_interval(sdag: SerializedDag, when: datetime) -> tuple[datetime, datetime]:
    """The data interval of a manual run at ``when`` under the DAG's timetable."""
    if not sdag.timetable:
        return (when, when)
    data = {k: v for k, v in sdag.timetable.items() if k != "summary"}
    interval = timetable_from_dict(data).infer_manual_data_interval(run_after=when)
    return (interval.start, interval.end)


def _refuse_same_date(session: Session, dag_id: str, when: datetime) -> None:
    clash = session.scalar(sa.select(DagRun.run_id).where(DagRun.dag_id == dag_id, DagRun.logical_date == when))
    if clash is not None:
        raise DagRunAlreadyExists(f"DAG {dag_id!r} already has a run at {iso(when)}: {clash!r}")


def dag_run_state(db: Database, *, dag_id: str, run_id: str) -> dict[str, Any]:
    """One run's summary (state, dates, conf), by run id or logical date; ``DagRunNotFound``."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        run = find_dagrun(session, dag_id=dag_id, run_id=run_id) or _run_at(session, dag_id, run_id)
        if run is None:
            raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
        return run_summary(run)


def _run_at(session: Session, dag_id: str, text: str) -> DagRun | None:
    """The run whose logical date is ``text`` (Airflow's ``dags state`` takes a date)."""
    try:
        when = pendulum.parse(text, tz="UTC")
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        return None
    if not isinstance(when, datetime):
        return None
    return session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == when))


def list_runs(db: Database, dag_id: str, *, state: DagRunState | None = None) -> list[dict[str, Any]]:
    """A DAG's runs, newest logical date first (of one state when given)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        if session.get(DagModel, dag_id) is None:
            raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
        query = sa.select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date.desc())
        if state is not None:
            query = query.where(DagRun.state == state)
        return [run_summary(run) for run in session.scalars(query)]


def set_paused(settings: Settings, db: Database, dag_id: str, *, paused: bool) -> dict[str, Any]:
    """Pause or unpause a DAG; returns ``{"dag_id", "is_paused"}``."""
    ensure_dag_known(settings, db, dag_id)
    with db.transaction() as session:
        model = session.get(DagModel, dag_id)
        if model is None:
            raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
        model.is_paused = paused
        return {"dag_id": dag_id, "is_paused": paused}


def delete_dag(db: Database, dag_id: str) -> dict[str, Any]:
    """Delete a DAG's runs (with task instances, XComs, history), SLA misses, backfills and rows."""
    ensure_schema(db)
    with db.transaction() as session:
        model = session.get(DagModel, dag_id)
        stored = session.get(SerializedDagModel, dag_id)
        if model is None and stored is None:
            raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
        runs = _delete_where(session, DagRun, DagRun.dag_id == dag_id)  # cascades to TIs, XComs
        _delete_where(session, SlaMiss, SlaMiss.dag_id == dag_id)
        _delete_where(session, Backfill, Backfill.dag_id == dag_id)
        _delete_where(session, SerializedDagModel, SerializedDagModel.dag_id == dag_id)
        if model is not None and model.fileloc:
            _delete_where(session, ImportError_, ImportError_.filename == model.fileloc)
        _delete_where(session, DagModel, DagModel.dag_id == dag_id)
        return {"dag_id": dag_id, "deleted_runs": runs}


def _delete_where(session: Session, model: type[Any], condition: sa.ColumnElement[bool]) -> int:
    result = session.execute(sa.delete(model).where(condition).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]
