"""Write what the parsing processes found: DAGs, import errors, deactivations.

All functions take the caller's ``session`` (one transaction per pass) and never
commit. A file that now fails keeps its DAGs' last good serialized form (the ``dag``
rows get ``has_import_errors=True``); a file that parses again clears its errors; a
DAG that disappears from a file, or whose file is gone, is deactivated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.dag_processing.pool import ParsedImportError, ParseResult
from dagflow.dag_processing.store import (
    PassRows,
    preload,
    replace_import_errors,
    store_serialized_dag,
    store_source,
)
from dagflow.exceptions import DagImportError
from dagflow.models import DagModel, ImportError_
from dagflow.serialization import SerializationError

_CHUNK = 500  # bound on SQL parameters per IN (...) list


@dataclass
class ApplyCounts:
    """What one pass wrote."""

    dags: int = 0
    changed: int = 0
    import_errors: int = 0
    deactivated: int = 0


def apply_results(
    session: Session,
    results: Sequence[ParseResult],
    *,
    listed: set[str],
    now: datetime,
    paused_at_creation: bool,
) -> ApplyCounts:
    """Store each file's DAGs (unchanged ones write nothing) or its import error."""
    counts = ApplyCounts()
    kept: dict[str, set[str]] = {}
    rows = preload(session, _dag_ids(results), [r.path for r in results if r.error is None])
    errors: list[DagImportError] = []
    for result in results:
        found: list[DagImportError] = [result.error] if result.error is not None else []
        if result.error is None:
            kept[result.path] = _store_dags(
                session, result, found, counts, rows, listed=listed, now=now, paused_at_creation=paused_at_creation
            )
            if kept[result.path]:
                store_source(session, result.path, now=now, rows=rows)
        errors += found
        counts.import_errors += len(found)
    replace_import_errors(session, errors, files=[result.path for result in results], now=now)
    counts.deactivated += _deactivate_dropped(session, kept)
    return counts


def _dag_ids(results: Sequence[ParseResult]) -> set[str]:
    return {
        str(document["dag"]["dag_id"])
        for result in results
        for document in result.dags
        if isinstance(document.get("dag"), dict) and document["dag"].get("dag_id")
    }


def remove_files(session: Session, paths: Iterable[str]) -> int:
    """Files that are gone: deactivate their DAGs and drop their import errors."""
    paths = list(paths)
    deactivated = 0
    for chunk in _chunks(paths):
        session.execute(sa.delete(ImportError_).where(ImportError_.filename.in_(chunk)))
        deactivated += _deactivate(session, DagModel.fileloc.in_(chunk))
    return deactivated


def prune_unlisted(session: Session, folders: Iterable[Path], listed: set[str]) -> int:
    """Deactivate DAGs (and drop errors) of files under ``folders`` that the listing lacks."""
    prefixes = tuple(str(Path(f).resolve()) + "/" for f in folders)
    active = session.execute(sa.select(DagModel.fileloc).where(DagModel.is_active.is_(True))).scalars()
    errored = session.execute(sa.select(ImportError_.filename)).scalars()
    stale = {f for f in [*active, *errored] if f and f.startswith(prefixes) and f not in listed}
    return remove_files(session, sorted(stale))


def _store_dags(
    session: Session,
    result: ParseResult,
    errors: list[DagImportError],
    counts: ApplyCounts,
    rows: PassRows,
    *,
    listed: set[str],
    now: datetime,
    paused_at_creation: bool,
) -> set[str]:
    """Store the file's DAGs; DAG ids already owned by another listed file become errors."""
    stored: set[str] = set()
    for document in result.dags:
        dag_id = str(document.get("dag", {}).get("dag_id"))
        owner = rows.dags.get(dag_id)
        if (
            owner is not None
            and owner.is_active
            and owner.fileloc not in (None, result.path)
            and owner.fileloc in listed
        ):
            errors.append(ParsedImportError(result.path, f"DAG id {dag_id!r} is already defined in {owner.fileloc}"))
            continue
        try:
            counts.changed += store_serialized_dag(
                session, document, now=now, paused_at_creation=paused_at_creation, rows=rows
            )
        except SerializationError as exc:
            errors.append(ParsedImportError(result.path, f"cannot store DAG {dag_id!r}: {exc}"))
            continue
        stored.add(dag_id)
    counts.dags += len(stored)
    return stored


def _deactivate_dropped(session: Session, kept: dict[str, set[str]]) -> int:
    """DAGs of these (successfully parsed) files that the files no longer define."""
    dropped: list[str] = []
    for chunk in _chunks(list(kept)):
        query = sa.select(DagModel.dag_id, DagModel.fileloc).where(
            DagModel.fileloc.in_(chunk), DagModel.is_active.is_(True)
        )
        dropped += [
            dag_id for dag_id, fileloc in session.execute(query) if dag_id not in kept.get(fileloc or "", set())
        ]
    return sum(_deactivate(session, DagModel.dag_id.in_(chunk)) for chunk in _chunks(dropped))


def _deactivate(session: Session, where: sa.ColumnElement[bool]) -> int:
    statement = sa.update(DagModel).where(where, DagModel.is_active.is_(True)).values(is_active=False)
    result: sa.CursorResult[object] = session.execute(statement)  # type: ignore[assignment]
    return int(result.rowcount or 0)


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
