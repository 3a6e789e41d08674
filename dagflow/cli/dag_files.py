"""The CLI's conveniences around DAG files: parse the DAG folders when the DB is behind, load a DAG by id.

Services never read DAG files (DESIGN rule 1: only the DAG processor and workers run user
code). A person at a terminal, though, expects ``dagflow dags list`` or ``dags trigger`` to
see a DAG file they just wrote, and ``dags test``/``tasks test`` to run the file as it is
now: these helpers do that here, in the CLI, before the command calls its service.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings, dag_folders
from dagflow.dag_processing.job import processor_alive
from dagflow.dag_processing.loader import load_file
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.exceptions import DagImportError, DagNotFound
from dagflow.models import DagModel, ImportError_, SerializedDagModel
from dagflow.sdk.dag import DAG
from dagflow.services.database import ensure_schema

#: A DAG processor whose job heartbeat is younger than this keeps the DB current for us.
PROCESSOR_ALIVE_WITHIN = timedelta(seconds=30)
#: How long ``load_dag`` waits for a live processor to parse a DAG it does not know yet (it watches the folders).
PROCESSOR_PICKUP_S = 3.0


def refresh(settings: Settings, db: Database) -> bool:
    """Make the DB reflect the DAG folders, unless a live DAG processor does that already.

    One processor pass over the files that changed since any process last parsed them
    (the ``dag_file`` stamps): each is parsed in an isolated process under
    ``parsing_timeout``, so a DAG file that hangs cannot hang the CLI, and a file that
    hung once is not tried again until it changes. True when a live processor does the work.
    """
    ensure_schema(db)
    now = pendulum.now("UTC")
    with db.transaction(readonly=True) as session:
        if processor_alive(session, now=now, timeout=PROCESSOR_ALIVE_WITHIN):
            return True
    processor = DagProcessor(settings, db, folders=dag_folders(settings), changed_only=True)
    try:
        processor.scan(now)
    finally:
        processor.close(pendulum.now("UTC"))
    return False


def refresh_if_unknown(settings: Settings, db: Database, dag_id: str) -> None:
    """``refresh`` when the DB does not know ``dag_id`` yet (a DAG file written a moment ago)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        known = session.get(SerializedDagModel, dag_id) is not None
    if not known:
        refresh(settings, db)


def load_dag(settings: Settings, db: Database, dag_id: str) -> DAG:
    """Import the file that defines ``dag_id``, as it is now (``dags test``, ``tasks test``).

    The folders are refreshed first through the timeout-guarded parser, so the file named
    here is one that imported within ``parsing_timeout``; a file that fails (or hangs)
    there gives its import error, never a hang of this process. No other file is imported.
    """
    live = refresh(settings, db)
    deadline = time.monotonic() + (PROCESSOR_PICKUP_S if live else 0.0)
    while True:
        with db.transaction(readonly=True) as session:
            fileloc = session.scalar(
                sa.select(DagModel.fileloc).where(DagModel.dag_id == dag_id, DagModel.is_active.is_(True))
            )
            error = _import_error(session, fileloc) if fileloc else None
            errors = _error_count(session)
        if fileloc is not None:
            break
        if time.monotonic() >= deadline:
            raise _not_found(settings, dag_id, errors)
        time.sleep(0.2)  # a live processor parses a file written a moment ago within about a second
    if error is not None:
        raise DagImportError(fileloc, error)
    result = load_file(Path(fileloc))
    if result.error is not None:
        raise result.error
    for dag in result.dags:
        if dag.dag_id == dag_id:
            return dag
    raise _not_found(settings, dag_id, 0)


def _import_error(session: Session, fileloc: str) -> str | None:
    query = sa.select(ImportError_.message).where(ImportError_.filename == fileloc).order_by(ImportError_.id.desc())
    return session.scalars(query.limit(1)).first()


def _error_count(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(ImportError_)) or 0)


def _not_found(settings: Settings, dag_id: str, errors: int) -> DagNotFound:
    where = ", ".join(str(f) for f in dag_folders(settings))
    message = f"DAG {dag_id!r} not found in {where}"
    if errors:
        message += f" ({errors} file(s) failed to import: `dagflow dags list-import-errors`)"
    return DagNotFound(message)
