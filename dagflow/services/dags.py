"""DAG-level services: list, show, import errors (from the DB; DAG files are never read here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dagflow.dag_processing.store import fileloc_hash
from dagflow.db import Database
from dagflow.exceptions import DagNotFound, NotFound, TaskNotFound
from dagflow.models import DagCode, DagModel, ImportError_, SerializedDagModel
from dagflow.serialization import SerializedDag, SerializedTask, deserialize_dag
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import DagRecord, Page


def list_dags(db: Database) -> list[DagRecord]:
    """Active DAGs by id, as the DAG processor last stored them."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        query = sa.select(DagModel).where(DagModel.is_active.is_(True)).order_by(DagModel.dag_id)
        return [DagRecord.of(m) for m in session.scalars(query)]


def list_import_errors(db: Database) -> list[ImportErrorRecord]:
    """Files that failed to import: file, line, one-line message, when (by file name)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return [_import_error(e) for e in session.scalars(sa.select(ImportError_).order_by(ImportError_.filename))]


@dataclass(frozen=True)
class TaskSummary:
    """A task in a DAG's structure: its operator, trigger rule and neighbours."""

    task_id: str
    operator: str
    trigger_rule: str
    downstream: tuple[str, ...]
    upstream: tuple[str, ...]


@dataclass(frozen=True)
class DagStructure:
    """A DAG's attributes and its tasks in topological order."""

    dag_id: str
    fileloc: str | None
    schedule: str | None
    is_paused: bool
    description: str | None
    tasks: tuple[TaskSummary, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe document (``dags show``)."""
        doc = asdict(self)
        doc["tasks"] = [
            {**t, "downstream": list(t["downstream"]), "upstream": list(t["upstream"])} for t in doc["tasks"]
        ]
        return doc


def show_dag(db: Database, dag_id: str) -> DagStructure:
    """A DAG's attributes and its tasks with their upstream and downstream tasks."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        stored = session.get(SerializedDagModel, dag_id)
        model = session.get(DagModel, dag_id)
        if stored is None or model is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        sdag = deserialize_dag(stored.data)
        paused = model.is_paused
    tasks = tuple(
        TaskSummary(
            t.task_id,
            t.task_type,
            str(t.trigger_rule),
            tuple(sorted(t.downstream_task_ids)),
            tuple(sorted(t.upstream_task_ids)),
        )
        for t in (sdag.get_task(i) for i in sdag.topological_order())
    )
    return DagStructure(sdag.dag_id, sdag.fileloc, sdag.schedule, paused, sdag.description, tasks)


# --- typed reads for the REST API and the UI ------------------------------------------------
@dataclass(frozen=True)
class DagFilter:
    """Which DAGs to list (Airflow's ``GET /dags`` filters)."""

    tags: tuple[str, ...] = ()
    tags_match_mode: str = "any"
    dag_id_pattern: str | None = None
    paused: bool | None = None
    only_active: bool = True
    dag_ids: tuple[str, ...] | None = None
    #: DAGs to leave out (their ``access_control`` hides them from the caller).
    hidden_dag_ids: frozenset[str] = frozenset()


_DAG_ORDER = {
    "dag_id": DagModel.dag_id,
    "dag_display_name": DagModel.dag_id,
    "is_paused": DagModel.is_paused,
    "next_dagrun": DagModel.next_dagrun,
    "next_dagrun_logical_date": DagModel.next_dagrun,
    "last_parsed_time": DagModel.last_parsed_at,
    "fileloc": DagModel.fileloc,
}


def query_dags(db: Database, flt: DagFilter, part: Slice) -> Page[DagRecord]:
    """A page of DAGs matching ``flt`` (tags are matched in Python: they are stored as JSON text)."""
    ensure_schema(db)
    query = sa.select(DagModel)
    if flt.only_active:
        query = query.where(DagModel.is_active.is_(True))
    if flt.paused is not None:
        query = query.where(DagModel.is_paused.is_(flt.paused))
    if flt.dag_id_pattern:
        query = query.where(DagModel.dag_id.ilike(f"%{_escape_like(flt.dag_id_pattern)}%", escape="\\"))
    if flt.dag_ids is not None:
        query = query.where(DagModel.dag_id.in_(flt.dag_ids))
    if flt.hidden_dag_ids:
        query = query.where(DagModel.dag_id.not_in(sorted(flt.hidden_dag_ids)))
    with db.transaction(readonly=True) as session:
        if flt.tags:
            wanted = set(flt.tags)
            match = (lambda t: wanted <= t) if flt.tags_match_mode == "all" else (lambda t: bool(wanted & t))
            ids = [
                dag_id
                for dag_id, tags in session.execute(query.with_only_columns(DagModel.dag_id, DagModel.tags))
                if match(set(tags or ()))
            ]
            query = sa.select(DagModel).where(DagModel.dag_id.in_(ids))
        return paged(session, query, part, _DAG_ORDER, [DagModel.dag_id], lambda row: DagRecord.of(row[0]))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_dag(db: Database, dag_id: str) -> DagRecord:
    """One DAG's record; ``DagNotFound`` if the DB does not know it."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        model = session.get(DagModel, dag_id)
        if model is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        return DagRecord.of(model)


def get_serialized_dag(db: Database, dag_id: str) -> SerializedDag:
    """The DAG's serialized form (tasks, params, settings) as the scheduler reads it."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        stored = session.get(SerializedDagModel, dag_id)
        if stored is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        return deserialize_dag(stored.data)


def dag_tags(db: Database, *, pattern: str | None = None, hidden_dag_ids: frozenset[str] = frozenset()) -> list[str]:
    """Every tag of an active DAG (not one of ``hidden_dag_ids``), sorted (containing ``pattern`` when given)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        rows = session.execute(sa.select(DagModel.dag_id, DagModel.tags).where(DagModel.is_active.is_(True)))
        tags = {t for dag_id, row in rows if dag_id not in hidden_dag_ids for t in (row or ())}
    return sorted(t for t in tags if pattern is None or pattern.lower() in t.lower())


def set_paused_many(db: Database, dag_ids: Sequence[str], *, paused: bool) -> int:
    """Pause or unpause the given DAGs; the number changed."""
    ensure_schema(db)
    with db.transaction() as session:
        changing = session.scalars(
            sa.select(DagModel.dag_id).where(DagModel.dag_id.in_(list(dag_ids)), DagModel.is_paused.is_not(paused))
        )
        for dag_id in sorted(changing):
            events.record(session, "pause" if paused else "unpause", dag_id=dag_id)
        result = session.execute(sa.update(DagModel).where(DagModel.dag_id.in_(list(dag_ids))).values(is_paused=paused))
        return int(result.rowcount)  # type: ignore[attr-defined]


def query_import_errors(
    db: Database, part: Slice, *, hidden_dag_ids: frozenset[str] = frozenset()
) -> Page[ImportErrorRecord]:
    """A page of the files that failed to import (not those of the files of ``hidden_dag_ids``)."""
    ensure_schema(db)
    query = sa.select(ImportError_)
    if hidden_dag_ids:
        files = sa.select(DagModel.fileloc).where(
            DagModel.dag_id.in_(sorted(hidden_dag_ids)), DagModel.fileloc.is_not(None)
        )
        query = query.where(ImportError_.filename.not_in(files))
    order = {
        "id": ImportError_.id,
        "import_error_id": ImportError_.id,
        "filename": ImportError_.filename,
        "timestamp": ImportError_.timestamp,
    }
    with db.transaction(readonly=True) as session:
        return paged(session, query, part, order, [ImportError_.id], lambda r: _import_error(r[0]))


def get_import_error(db: Database, import_error_id: int) -> ImportErrorRecord:
    """One import error by id; ``NotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        row = session.get(ImportError_, import_error_id)
        if row is None:
            raise ImportErrorNotFound(f"import error {import_error_id} not found")
        return _import_error(row)


class ImportErrorNotFound(NotFound):
    """No import error with that id."""


@dataclass(frozen=True)
class ImportErrorRecord:
    """A DAG file that failed to import."""

    id: int
    filename: str
    lineno: int | None
    message: str
    stack_trace: str
    timestamp: datetime | None


def _import_error(row: ImportError_) -> ImportErrorRecord:
    trace = row.stacktrace or row.message
    return ImportErrorRecord(row.id, row.filename, row.lineno, row.message, trace, row.timestamp)


@dataclass(frozen=True)
class DagSourceRecord:
    """The source text of a DAG's file, as the DAG processor last read it."""

    dag_id: str
    fileloc: str
    content: str
    last_updated: datetime


class DagSourceNotFound(NotFound):
    """The DAG's file text was never stored (the DAG processor has not read it yet)."""


def dag_source(db: Database, dag_id: str) -> DagSourceRecord:
    """The DAG file's text from the DB (``dag_code``); the file itself is never opened here."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        model = session.get(DagModel, dag_id)
        if model is None:
            raise DagNotFound(f"DAG {dag_id!r} not found")
        code = session.get(DagCode, fileloc_hash(model.fileloc or "")) if model.fileloc else None
        if code is None:
            raise DagSourceNotFound(f"the source of DAG {dag_id!r} is not stored yet (the DAG processor stores it)")
        return DagSourceRecord(dag_id, code.fileloc, code.source_code, code.last_updated)


def dag_tasks(db: Database, dag_id: str) -> list[SerializedTask]:
    """The DAG's tasks as the scheduler knows them, in topological order."""
    sdag = get_serialized_dag(db, dag_id)
    return [sdag.get_task(task_id) for task_id in sdag.topological_order()]


def dag_task(db: Database, dag_id: str, task_id: str) -> SerializedTask:
    """One task of a DAG; ``TaskNotFound`` if the DAG has no such task."""
    sdag = get_serialized_dag(db, dag_id)
    if task_id not in sdag.tasks:
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r}")
    return sdag.get_task(task_id)
