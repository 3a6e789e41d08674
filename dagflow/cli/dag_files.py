"""The CLI's conveniences around DAG files: parse the DAG folders when the DB is behind, load a DAG by id.

Services never read DAG files (DESIGN rule 1: only the DAG processor and workers run user
code). A person at a terminal, though, expects ``dagflow dags list`` or ``dags trigger`` to
see a DAG file they just wrote, and ``dags test``/``tasks test`` to run the file as it is
now: these helpers do that here, in the CLI, before the command calls its service.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings, dag_folders
from dagflow.dag_processing.job import processor_alive
from dagflow.dag_processing.loader import FolderResult, load_file, load_folder
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.exceptions import DagNotFound
from dagflow.models import DagModel, SerializedDagModel
from dagflow.sdk.dag import DAG
from dagflow.services.database import ensure_schema

#: A DAG processor whose job heartbeat is younger than this keeps the DB current for us.
PROCESSOR_ALIVE_WITHIN = timedelta(seconds=30)


def refresh(settings: Settings, db: Database) -> None:
    """Make the DB reflect the DAG folders, unless a live DAG processor does that already.

    One processor pass: files are parsed in isolated processes under ``parsing_timeout``,
    so a DAG file that hangs cannot hang the CLI.
    """
    ensure_schema(db)
    now = pendulum.now("UTC")
    with db.transaction(readonly=True) as session:
        if processor_alive(session, now=now, timeout=PROCESSOR_ALIVE_WITHIN):
            return
    processor = DagProcessor(settings, db, folders=dag_folders(settings))
    try:
        processor.scan(now)
    finally:
        processor.close(pendulum.now("UTC"))


def refresh_if_unknown(settings: Settings, db: Database, dag_id: str) -> None:
    """``refresh`` when the DB does not know ``dag_id`` yet (a DAG file written a moment ago)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        known = session.get(SerializedDagModel, dag_id) is not None
    if not known:
        refresh(settings, db)


def load_dag(settings: Settings, db: Database, dag_id: str) -> DAG:
    """Import the file that defines ``dag_id`` (known from the DB, else found by scanning)."""
    with db.transaction() as session:
        fileloc = session.scalar(sa.select(DagModel.fileloc).where(DagModel.dag_id == dag_id))
    if fileloc and Path(fileloc).exists():
        result = load_file(Path(fileloc))
        if result.error is not None:
            raise result.error
        for dag in result.dags:
            if dag.dag_id == dag_id:
                return dag
    scanned = load_folder(dag_folders(settings))
    if dag_id in scanned.dags:
        return scanned.dags[dag_id]
    raise _not_found(settings, dag_id, scanned)


def _not_found(settings: Settings, dag_id: str, scanned: FolderResult) -> DagNotFound:
    where = ", ".join(str(f) for f in dag_folders(settings))
    message = f"DAG {dag_id!r} not found in {where}"
    errors = list(scanned.errors.values())
    if errors:
        message += f" ({len(errors)} file(s) failed to import; first: {errors[0]})"
    return DagNotFound(message)
