"""Writing parsed DAGs and import errors to the metadata DB (the DAG processor's output).

A DAG whose serialized form hashes the same as the stored one writes nothing, so a
re-scan of an unchanged folder costs reads only. A pass loads every row it may touch
up front (``preload``: a handful of queries per 500 DAGs) and looks them up in the
returned ``PassRows``, so storing issues no query per DAG and the session flushes the
new rows in one batch at the end instead of one autoflush per lookup.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from sqlalchemy.orm import Session

from dagflow.exceptions import DagImportError
from dagflow.models import (
    DagCode,
    DagModel,
    DagScheduleAssetReference,
    ImportError_,
    SerializedDagModel,
    TaskOutletAssetReference,
)
from dagflow.models.asset import replace_asset_references
from dagflow.sdk.assets import expression_uris
from dagflow.serialization import dag_hash, deserialize_dag


@dataclass
class PassRows:
    """The rows of one pass's DAGs and files, by key; a key that is absent has no row yet.

    Rows added during the pass are registered here too, so a DAG id met twice finds the
    first one. Holding the objects also keeps the session from dropping them (it holds
    clean objects only weakly) and reading them again one query at a time.
    """

    dags: dict[str, DagModel] = field(default_factory=dict)
    serialized: dict[str, SerializedDagModel] = field(default_factory=dict)
    codes: dict[str, DagCode] = field(default_factory=dict)
    with_asset_references: set[str] = field(default_factory=set)


def store_serialized_dag(
    session: Session,
    data: Mapping[str, Any],
    *,
    now: datetime,
    paused_at_creation: bool,
    rows: PassRows | None = None,
) -> bool:
    """Upsert one serialized DAG and its ``dag`` row; True if anything changed.

    An unchanged DAG (same hash as stored) is not deserialized again: it was checked
    when it was stored. ``rows`` (``preload``): look rows up there instead of querying.
    """
    document = dict(data)
    digest = dag_hash(document)
    found = document.get("dag")
    header: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    dag_id = header.get("dag_id")
    stored = _serialized(session, rows, str(dag_id)) if dag_id else None
    if stored is not None and stored.dag_hash == digest:
        model = _dag_model(session, rows, stored.dag_id)
        if model is not None:
            _mark_parsed(model, header.get("fileloc"), now)
            return False
    sdag = deserialize_dag(document)
    model = _dag_model(session, rows, sdag.dag_id)
    if model is None:
        paused = sdag.is_paused_upon_creation
        model = DagModel(dag_id=sdag.dag_id, is_paused=paused_at_creation if paused is None else paused)
        session.add(model)
        if rows is not None:
            rows.dags[sdag.dag_id] = model
    _mark_parsed(model, sdag.fileloc, now)
    if stored is not None and stored.dag_hash == digest:
        return False
    _describe(model, sdag)
    _store_asset_references(session, sdag, rows)
    if stored is None:
        stored = SerializedDagModel(
            dag_id=sdag.dag_id, fileloc=sdag.fileloc, data=document, dag_hash=digest, last_updated=now
        )
        session.add(stored)
        if rows is not None:
            rows.serialized[sdag.dag_id] = stored
    else:
        stored.fileloc = sdag.fileloc or stored.fileloc
        stored.data, stored.dag_hash, stored.last_updated = document, digest, now
    return True


def _dag_model(session: Session, rows: PassRows | None, dag_id: str) -> DagModel | None:
    return session.get(DagModel, dag_id) if rows is None else rows.dags.get(dag_id)


def _serialized(session: Session, rows: PassRows | None, dag_id: str) -> SerializedDagModel | None:
    return session.get(SerializedDagModel, dag_id) if rows is None else rows.serialized.get(dag_id)


def _store_asset_references(session: Session, sdag: Any, rows: PassRows | None) -> None:
    """The assets the DAG is scheduled on and its tasks' outlets (only for a DAG that has any, or had)."""
    condition = sdag.asset_condition
    outlets = {task_id: task.outlets for task_id, task in sdag.tasks.items() if task.outlets}
    if not condition and not outlets and not sdag.assets:
        had = _has_asset_references(session, sdag.dag_id) if rows is None else sdag.dag_id in rows.with_asset_references
        if not had:
            return
    uris = expression_uris(condition) if condition is not None else []
    replace_asset_references(session, sdag.dag_id, schedule_uris=uris, outlets=outlets, details=sdag.assets)


def _has_asset_references(session: Session, dag_id: str) -> bool:
    found = session.scalar(
        sa.select(sa.literal(1)).where(
            sa.or_(
                sa.exists().where(DagScheduleAssetReference.dag_id == dag_id),
                sa.exists().where(TaskOutletAssetReference.dag_id == dag_id),
            )
        )
    )
    return found is not None


def preload(session: Session, dag_ids: Iterable[str], filelocs: Iterable[str] = ()) -> PassRows:
    """Load the ``dag`` rows, stored hashes (not the JSON), asset references and ``dag_code``
    rows of a pass's DAGs and files: a few queries per 500 keys, none per DAG afterwards."""
    rows = PassRows()
    ids = sorted(set(dag_ids))
    for chunk in _chunks(ids):
        for model in session.scalars(sa.select(DagModel).where(DagModel.dag_id.in_(chunk))):
            rows.dags[model.dag_id] = model
        query = (
            sa.select(SerializedDagModel)
            .options(sa.orm.defer(SerializedDagModel.data))
            .where(SerializedDagModel.dag_id.in_(chunk))
        )
        for stored in session.scalars(query):
            rows.serialized[stored.dag_id] = stored
        for table in (DagScheduleAssetReference, TaskOutletAssetReference):
            rows.with_asset_references.update(session.scalars(sa.select(table.dag_id).where(table.dag_id.in_(chunk))))
    keys = sorted({fileloc_hash(str(f)) for f in filelocs})
    for chunk in _chunks(keys):
        for code in session.scalars(sa.select(DagCode).where(DagCode.fileloc_hash.in_(chunk))):
            rows.codes[code.fileloc_hash] = code
    return rows


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), 500):
        yield items[start : start + 500]


def _mark_parsed(model: DagModel, fileloc: Any, now: datetime) -> None:
    model.fileloc = fileloc
    model.is_active = True
    model.has_import_errors = False
    model.last_parsed_at = now


def _describe(model: DagModel, sdag: Any) -> None:
    model.owners = ", ".join(sorted({t.owner for t in sdag.tasks.values() if getattr(t, "owner", None)})) or None
    model.description = sdag.description
    model.tags = list(sdag.tags or [])
    model.schedule_description = sdag.schedule
    model.timetable_summary = sdag.schedule
    model.max_active_runs = sdag.max_active_runs
    model.max_active_tasks = sdag.max_active_tasks
    model.access_control = None if sdag.access_control is None else {k: list(v) for k, v in sdag.access_control.items()}


def replace_import_errors(
    session: Session, errors: Iterable[DagImportError], *, files: Iterable[str], now: datetime
) -> None:
    """Make the stored import errors of ``files`` exactly ``errors``."""
    files = [str(f) for f in files]
    for start in range(0, len(files), 500):
        session.execute(sa.delete(ImportError_).where(ImportError_.filename.in_(files[start : start + 500])))
    for error in errors:
        session.add(
            ImportError_(
                filename=error.filename,
                lineno=error.lineno,
                message=error.message,
                stacktrace=_stacktrace(error),
                timestamp=now,
            )
        )
        session.execute(sa.update(DagModel).where(DagModel.fileloc == error.filename).values(has_import_errors=True))


def _stacktrace(error: DagImportError) -> str:
    import traceback

    remote = getattr(error, "stacktrace", None)  # formatted in a parsing process
    if isinstance(remote, str) and remote:
        return remote[-20000:]
    cause = error.__cause__
    if cause is None:
        return error.message
    return "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))[-20000:]


def fileloc_hash(fileloc: str) -> str:
    """The ``dag_code`` key of a DAG file's path."""
    return hashlib.sha256(fileloc.encode()).hexdigest()


def store_source(session: Session, fileloc: str, *, now: datetime, rows: PassRows | None = None) -> bool:
    """Keep the file's current text in ``dag_code`` (read as text, never run); True if it changed.

    A file that cannot be read keeps its last stored text. ``rows``: as in ``store_serialized_dag``.
    """
    try:
        source = Path(fileloc).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    digest = hashlib.sha256(source.encode()).hexdigest()
    key = fileloc_hash(fileloc)
    row = session.get(DagCode, key) if rows is None else rows.codes.get(key)
    if row is not None and row.source_hash == digest:
        return False
    if row is None:
        row = DagCode(fileloc_hash=key, fileloc=fileloc, source_code=source, source_hash=digest, last_updated=now)
        session.add(row)
        if rows is not None:
            rows.codes[key] = row
    else:
        row.source_code, row.source_hash, row.last_updated = source, digest, now
    return True
