"""Finding a DAG's definition: where DAG files live and how to load one DAG by id."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from dagflow.config import Settings, dag_folders
from dagflow.dag_processing.loader import FolderResult, load_file, load_folder
from dagflow.db import Database
from dagflow.exceptions import DagNotFound
from dagflow.models import DagModel
from dagflow.sdk.dag import DAG


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
