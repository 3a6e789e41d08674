"""Writing parsed DAGs and import errors to the metadata DB (the DAG processor's output).

A DAG whose serialized form hashes the same as the stored one writes nothing, so a
re-scan of an unchanged folder costs reads only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
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


def store_serialized_dag(session: Session, data: Mapping[str, Any], *, now: datetime, paused_at_creation: bool) -> bool:
    """Upsert one serialized DAG and its ``dag`` row; True if anything changed.

    An unchanged DAG (same hash as stored) is not deserialized again: it was checked
    when it was stored. ``preload`` fills the session with a pass's rows beforehand.
    """
    document = dict(data)
    digest = dag_hash(document)
    found = document.get("dag")
    header: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    stored = session.get(SerializedDagModel, header.get("dag_id")) if header.get("dag_id") else None
    if stored is not None and stored.dag_hash == digest:
        model = session.get(DagModel, stored.dag_id)
        if model is not None:
            _mark_parsed(model, header.get("fileloc"), now)
            return False
    sdag = deserialize_dag(document)
    model = session.get(DagModel, sdag.dag_id)
    if model is None:
        paused = sdag.is_paused_upon_creation
        model = DagModel(dag_id=sdag.dag_id, is_paused=paused_at_creation if paused is None else paused)
        session.add(model)
    _mark_parsed(model, sdag.fileloc, now)
    if stored is not None and stored.dag_hash == digest:
        return False
    _describe(model, sdag)
    _store_asset_references(session, sdag)
    if stored is None:
        session.add(
            SerializedDagModel(
                dag_id=sdag.dag_id, fileloc=sdag.fileloc, data=document, dag_hash=digest, last_updated=now
            )
        )
    else:
        stored.fileloc = sdag.fileloc or stored.fileloc
        stored.data, stored.dag_hash, stored.last_updated = document, digest, now
    return True


def _store_asset_references(session: Session, sdag: Any) -> None:
    """The assets the DAG is scheduled on and its tasks' outlets (only for a DAG that has any, or had)."""
    condition = sdag.asset_condition
    outlets = {task_id: task.outlets for task_id, task in sdag.tasks.items() if task.outlets}
    if condition is None and not outlets and not sdag.assets and not _has_asset_references(session, sdag.dag_id):
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


def preload(session: Session, dag_ids: Iterable[str]) -> list[object]:
    """Load the ``dag`` rows and stored hashes of ``dag_ids`` into ``session`` (two queries per
    500); ``store_serialized_dag`` then finds them without a query each. The stored JSON is
    not read. Keep the returned list while storing: the session holds clean objects only
    weakly, and a collected one would be read again, one query per DAG."""
    ids = sorted(set(dag_ids))
    loaded: list[object] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        loaded += session.scalars(sa.select(DagModel).where(DagModel.dag_id.in_(chunk))).all()
        loaded += session.scalars(
            sa.select(SerializedDagModel)
            .options(sa.orm.defer(SerializedDagModel.data))
            .where(SerializedDagModel.dag_id.in_(chunk))
        ).all()
    return loaded


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


def store_source(session: Session, fileloc: str, *, now: datetime) -> bool:
    """Keep the file's current text in ``dag_code`` (read as text, never run); True if it changed.

    A file that cannot be read keeps its last stored text.
    """
    try:
        source = Path(fileloc).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    digest = hashlib.sha256(source.encode()).hexdigest()
    key = fileloc_hash(fileloc)
    row = session.get(DagCode, key)
    if row is not None and row.source_hash == digest:
        return False
    if row is None:
        session.add(
            DagCode(fileloc_hash=key, fileloc=fileloc, source_code=source, source_hash=digest, last_updated=now)
        )
    else:
        row.source_code, row.source_hash, row.last_updated = source, digest, now
    return True
