"""DAG-run services: trigger a run, read a run's state, list runs, pause, delete a DAG."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import Conflict, DagNotFound, DagRunAlreadyExists, DagRunNotFound, InvalidInput
from dagflow.execution.events import RUN_CHANGED, RUN_QUEUED, publish
from dagflow.models import (
    AssetDagRunQueue,
    DagModel,
    DagRun,
    DagScheduleAssetReference,
    ImportError_,
    SerializedDagModel,
    TaskInstance,
    TaskOutletAssetReference,
    plan_marker,
)
from dagflow.models.backfill import Backfill
from dagflow.models.sla_miss import SlaMiss
from dagflow.models.transitions import set_dagrun_state, set_ti_state
from dagflow.scheduler.dagruns import create_dagrun, delete_dagrun, find_dagrun, generate_run_id
from dagflow.sdk.ids import check_run_id
from dagflow.secrets.masker import SecretsMasker
from dagflow.serialization import SerializedDag, deserialize_dag
from dagflow.serialization.params import validate_conf
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import DagRecord, Page, RunRecord
from dagflow.services.reports import iso
from dagflow.state import ALLOWED, FINISHED, DagRunState, DagRunTriggeredByType, DagRunType, TaskInstanceState
from dagflow.timetables import timetable_from_dict


def serialized_dag(session: Session, dag_id: str) -> SerializedDag:
    """The stored serialized DAG; ``DagNotFound`` if the DB does not know it."""
    stored = session.get(SerializedDagModel, dag_id)
    if stored is None:
        raise DagNotFound(f"DAG {dag_id!r} not found")
    return deserialize_dag(stored.data)


def ensure_dag_known(settings: Settings, db: Database, dag_id: str) -> None:
    """Check the schema and that the DB knows ``dag_id`` (``DagNotFound``); DAG files are not read here."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        serialized_dag(session, dag_id)


def trigger_dag(
    settings: Settings,
    db: Database,
    dag_id: str,
    *,
    conf: Mapping[str, Any] | None = None,
    run_id: str | None = None,
    logical_date: datetime | None = None,
    triggered_by: DagRunTriggeredByType = DagRunTriggeredByType.CLI,
) -> RunRecord:
    """Create a queued manual run (the scheduler starts it); returns it.

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
            triggered_by=triggered_by,
            now=now,
        )
        publish(session, RUN_QUEUED, dag_id=dag_id, run_id=run.run_id)  # schedulers hear it at commit
        trigger_extra = {"logical_date": iso(when), "conf": SecretsMasker().redact(dict(conf or {}))}
        events.record(session, "trigger", dag_id=dag_id, run_id=run.run_id, extra=trigger_extra)
        return RunRecord.of(run)


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


def dag_run_state(db: Database, *, dag_id: str, run_id: str) -> RunRecord:
    """One run, by run id or logical date (Airflow's ``dags state``); ``DagRunNotFound``."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        run = find_dagrun(session, dag_id=dag_id, run_id=run_id) or _run_at(session, dag_id, run_id)
        if run is None:
            raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
        return RunRecord.of(run)


def _run_at(session: Session, dag_id: str, text: str) -> DagRun | None:
    """The run whose logical date is ``text`` (Airflow's ``dags state`` takes a date)."""
    try:
        when = pendulum.parse(text, tz="UTC")
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        return None
    if not isinstance(when, datetime):
        return None
    return session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == when))


def list_runs(db: Database, dag_id: str, *, state: DagRunState | None = None) -> list[RunRecord]:
    """A DAG's runs, newest logical date first (of one state when given)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        if session.get(DagModel, dag_id) is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        query = sa.select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date.desc())
        if state is not None:
            query = query.where(DagRun.state == state)
        return [RunRecord.of(run) for run in session.scalars(query)]


def set_paused(settings: Settings, db: Database, dag_id: str, *, paused: bool) -> DagRecord:
    """Pause or unpause a DAG; returns it."""
    ensure_dag_known(settings, db, dag_id)
    with db.transaction() as session:
        model = session.get(DagModel, dag_id)
        if model is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        if model.is_paused != paused:
            events.record(session, "pause" if paused else "unpause", dag_id=dag_id)
        model.is_paused = paused
        return DagRecord.of(model)


@dataclass(frozen=True)
class DeletedDag:
    """What ``delete_dag`` removed."""

    dag_id: str
    deleted_runs: int


def delete_dag(db: Database, dag_id: str) -> DeletedDag:
    """Delete a DAG's runs (with task instances, XComs, history), SLA misses, backfills, asset references and rows."""
    ensure_schema(db)
    with db.transaction() as session:
        model = session.get(DagModel, dag_id)
        stored = session.get(SerializedDagModel, dag_id)
        if model is None and stored is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        plan_marker.bump(session)  # its running runs' plans are stale
        runs = _delete_where(session, DagRun, DagRun.dag_id == dag_id)  # cascades to TIs, XComs
        _delete_where(session, SlaMiss, SlaMiss.dag_id == dag_id)
        _delete_where(session, Backfill, Backfill.dag_id == dag_id)
        # Its asset references and queue (the assets and their events stay: other DAGs may use them).
        _delete_where(session, DagScheduleAssetReference, DagScheduleAssetReference.dag_id == dag_id)
        _delete_where(session, TaskOutletAssetReference, TaskOutletAssetReference.dag_id == dag_id)
        _delete_where(session, AssetDagRunQueue, AssetDagRunQueue.target_dag_id == dag_id)
        _delete_where(session, SerializedDagModel, SerializedDagModel.dag_id == dag_id)
        if model is not None and model.fileloc:
            _delete_where(session, ImportError_, ImportError_.filename == model.fileloc)
        _delete_where(session, DagModel, DagModel.dag_id == dag_id)
        events.record(session, "delete_dag", dag_id=dag_id, extra={"deleted_runs": runs})
        return DeletedDag(dag_id, runs)


def _delete_where(session: Session, model: type[Any], condition: sa.ColumnElement[bool]) -> int:
    result = session.execute(sa.delete(model).where(condition).execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- typed reads and edits for the REST API and the UI --------------------------------------
@dataclass(frozen=True)
class RunFilter:
    """Which runs to list (Airflow's ``GET /dags/{dag_id}/dagRuns`` filters); ``dag_id`` None: every DAG."""

    dag_id: str | None = None
    states: tuple[str, ...] = ()
    run_types: tuple[str, ...] = ()
    logical_date_gte: datetime | None = None
    logical_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    run_id_pattern: str | None = None
    #: Only runs of these DAGs (None: any DAG); the web UI's tag filter resolves tags to ids.
    dag_ids: tuple[str, ...] | None = None
    #: DAGs to leave out (their ``access_control`` hides them from the caller).
    hidden_dag_ids: frozenset[str] = frozenset()


_RUN_ORDER = {
    "id": DagRun.id,
    "dag_id": DagRun.dag_id,
    "run_id": DagRun.run_id,
    "dag_run_id": DagRun.run_id,
    "logical_date": DagRun.logical_date,
    "run_after": DagRun.logical_date,
    "state": DagRun.state,
    "start_date": DagRun.start_date,
    "end_date": DagRun.end_date,
    "queued_at": DagRun.queued_at,
    "run_type": DagRun.run_type,
}

_RUN_RANGES = (
    ("logical_date", DagRun.logical_date),
    ("start_date", DagRun.start_date),
    ("end_date", DagRun.end_date),
)


def query_runs(db: Database, flt: RunFilter, part: Slice) -> Page[RunRecord]:
    """A page of runs (of one DAG, or all), oldest first unless ``order_by`` says otherwise."""
    ensure_schema(db)
    query = sa.select(DagRun)
    if flt.dag_id is not None:
        query = query.where(DagRun.dag_id == flt.dag_id)
    if flt.dag_ids is not None:
        query = query.where(DagRun.dag_id.in_(flt.dag_ids))
    if flt.states:
        query = query.where(DagRun.state.in_([DagRunState(s) for s in flt.states]))
    if flt.run_types:
        query = query.where(DagRun.run_type.in_(flt.run_types))
    if flt.hidden_dag_ids:
        query = query.where(DagRun.dag_id.not_in(sorted(flt.hidden_dag_ids)))
    if flt.run_id_pattern:
        query = query.where(DagRun.run_id.contains(flt.run_id_pattern, autoescape=True))
    for name, column in _RUN_RANGES:
        low, high = getattr(flt, f"{name}_gte"), getattr(flt, f"{name}_lte")
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column <= high)
    with db.transaction(readonly=True) as session:
        if flt.dag_id is not None and session.get(DagModel, flt.dag_id) is None:
            raise DagNotFound(f"DAG {flt.dag_id!r} not found")
        return paged(session, query, part, _RUN_ORDER, [DagRun.id], lambda row: RunRecord.of(row[0]))


def get_run(db: Database, dag_id: str, run_id: str) -> RunRecord:
    """One run; ``DagRunNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return RunRecord.of(_run(session, dag_id, run_id))


def _run(session: Session, dag_id: str, run_id: str) -> DagRun:
    run = find_dagrun(session, dag_id=dag_id, run_id=run_id)
    if run is None:
        raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
    return run


def set_run_note(db: Database, dag_id: str, run_id: str, note: str | None) -> RunRecord:
    """Replace a run's note (None clears it)."""
    ensure_schema(db)
    with db.transaction() as session:
        run = _run(session, dag_id, run_id)
        run.note = note
        events.record(session, "set_dag_run_note", dag_id=dag_id, run_id=run_id)
        session.flush()
        return RunRecord.of(run)


def mark_run(db: Database, dag_id: str, run_id: str, state: DagRunState) -> RunRecord:
    """Set a run to ``queued``, ``success`` or ``failed`` by hand, as Airflow's ``PATCH dagRun`` does.

    Marking ``success``/``failed`` also marks its unfinished task instances the same way
    (``failed`` marks them ``skipped`` when they never started, as Airflow does).
    """
    if state not in (DagRunState.QUEUED, DagRunState.SUCCESS, DagRunState.FAILED):
        raise InvalidInput(f"a run can be marked queued, success or failed, not {state.value}")
    ensure_schema(db)
    with db.transaction() as session:
        run = _run(session, dag_id, run_id)
        if run.state is not state:
            _mark_unfinished_tis(session, run, state)
            values = {"end_date": pendulum.now("UTC")} if state is not DagRunState.QUEUED else {"end_date": None}
            if not set_dagrun_state(session, run.id, to=state, expected=[run.state], values=values):
                raise Conflict(f"DAG run {run_id!r} changed state meanwhile; try again")
            publish(session, RUN_CHANGED, dag_id=dag_id, run_id=run_id)
            events.record(session, "mark_dag_run", dag_id=dag_id, run_id=run_id, extra={"state": state.value})
        session.expire(run)
        return RunRecord.of(_run(session, dag_id, run_id))


def _mark_unfinished_tis(session: Session, run: DagRun, state: DagRunState) -> None:
    if state is DagRunState.QUEUED:
        return
    now = pendulum.now("UTC")
    tis = session.scalars(
        sa.select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    )
    for ti in list(tis):
        if ti.state in FINISHED:
            continue
        started = ti.state in (TaskInstanceState.RUNNING, TaskInstanceState.UP_FOR_RETRY)
        if state is DagRunState.SUCCESS:
            to = TaskInstanceState.SUCCESS
        else:
            to = TaskInstanceState.FAILED if started else TaskInstanceState.SKIPPED
        if to in ALLOWED[ti.state]:
            values = {"end_date": now, "start_date": ti.start_date or now, "next_try_at": None}
            set_ti_state(session, [ti.id], to=to, expected=[ti.state], values=values)


def delete_run(db: Database, dag_id: str, run_id: str) -> None:
    """Delete a run with its task instances, XComs and history."""
    ensure_schema(db)
    with db.transaction() as session:
        _run(session, dag_id, run_id)
        delete_dagrun(session, dag_id=dag_id, run_id=run_id)
        events.record(session, "delete_dag_run", dag_id=dag_id, run_id=run_id)
