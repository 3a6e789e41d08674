"""The ``dag_file`` rows: each DAG file's stamp at its last parse, kept in the DB across processes.

Every processor pass records the files it parsed (stamp, when, how long, how many DAGs,
whether it failed). A short-lived processor (the CLI's own parse) seeds its tracker from
these rows, so it parses only files whose content changed since any process last parsed
them; ``dags report`` reads the parse durations. Query functions take ``session`` and
never commit.
"""

from __future__ import annotations

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


def load_stamps(session: Session) -> dict[str, tuple[FileStamp, datetime]]:
    """Every recorded file: its stamp and when it was parsed."""
    rows = session.execute(
        sa.select(DagFile.fileloc, DagFile.mtime_ns, DagFile.size, DagFile.digest, DagFile.last_parsed_at)
    )
    return {row[0]: (FileStamp(row[1], row[2], row[3]), row[4]) for row in rows}


def _existing(session: Session, paths: list[str]) -> list[str]:
    found: list[str] = []
    for start in range(0, len(paths), _CHUNK):
        chunk = paths[start : start + _CHUNK]
        found += session.scalars(sa.select(DagFile.fileloc).where(DagFile.fileloc.in_(chunk)))
    return found
