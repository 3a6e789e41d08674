"""The ``dag_file`` rows: each DAG file's stamp at its last parse, kept in the DB across processes.

Every processor pass records the files it parsed (stamp, when, how long, how many DAGs,
whether it failed, the stamps of the helper files it imported from the DAG folders). A short-lived processor (the CLI's own parse) seeds its tracker from
these rows, so it parses only files whose content changed since any process last parsed
them; ``dags report`` reads the parse durations. Query functions take ``session`` and
never commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.dag_processing.file_tracker import FileStamp
from dagflow.dag_processing.pool import ParseResult
from dagflow.models import DagFile

_CHUNK = 500  # bound on SQL parameters per IN (...) list


def record_parsed(
    session: Session, results: Sequence[ParseResult], stamps: Mapping[str, FileStamp], *, now: datetime
) -> None:
    """Upsert one ``dag_file`` row per parsed file (files without a stamp are skipped)."""
    parsed = [result for result in results if result.path in stamps]
    existing = set(_existing(session, [result.path for result in parsed]))
    for result in parsed:
        stamp = stamps[result.path]
        values = {
            "mtime_ns": stamp.mtime_ns,
            "size": stamp.size,
            "digest": stamp.digest,
            "last_parsed_at": now,
            "parse_duration": result.duration_s,
            "dag_count": len(result.dags),
            "has_error": result.error is not None,
            "imports": json.dumps([list(stamp) for stamp in result.imports]) if result.imports else None,
        }
        if result.path in existing:
            session.execute(sa.update(DagFile).where(DagFile.fileloc == result.path).values(**values))
        else:
            session.add(DagFile(fileloc=result.path, **values))
    session.flush()


def forget_files(session: Session, paths: Iterable[str]) -> None:
    """Delete the rows of files that are gone."""
    paths = list(paths)
    for start in range(0, len(paths), _CHUNK):
        session.execute(sa.delete(DagFile).where(DagFile.fileloc.in_(paths[start : start + _CHUNK])))


def load_stamps(session: Session) -> dict[str, tuple[FileStamp, datetime, dict[str, FileStamp]]]:
    """Every recorded file: its stamp, when it was parsed, and the stamps of what it imported."""
    rows = session.execute(
        sa.select(
            DagFile.fileloc, DagFile.mtime_ns, DagFile.size, DagFile.digest, DagFile.last_parsed_at, DagFile.imports
        )
    )
    return {row[0]: (FileStamp(row[1], row[2], row[3]), row[4], imports_of(row[5])) for row in rows}


def imports_of(text: str | None) -> dict[str, FileStamp]:
    """The ``imports`` column read back (unreadable text reads as no imports)."""
    try:
        items = json.loads(text) if text else []
        return {str(i[0]): FileStamp(int(i[1]), int(i[2]), str(i[3])) for i in items}
    except (ValueError, TypeError, IndexError):
        return {}


def import_stamps(result: ParseResult) -> dict[str, FileStamp]:
    """A parse result's imports as stamps by path."""
    return {path: FileStamp(mtime_ns, size, digest) for path, mtime_ns, size, digest in result.imports}


def _existing(session: Session, paths: list[str]) -> list[str]:
    found: list[str] = []
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        found += session.scalars(sa.select(DagFile.fileloc).where(DagFile.fileloc.in_(chunk)))
    return found
