"""Parse DAG folders in this process and make the DB match them (DAGs, import errors).

The CLI uses it when no DAG processor is running; the DAG processor calls the same
``apply_folder_result`` with what its parsing subprocesses produced.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.dag_processing.loader import FolderResult, load_folder
from dagflow.dag_processing.store import replace_import_errors, store_serialized_dag
from dagflow.db import Database
from dagflow.models import DagModel
from dagflow.serialization import serialize_dag


@dataclass(frozen=True)
class SyncReport:
    """What a sync found and changed."""

    files: int
    dags: int
    changed: int
    import_errors: int
    deactivated: int


def sync_folders(db: Database, folders: Iterable[Path], *, paused_at_creation: bool) -> SyncReport:
    """Import every DAG file under ``folders`` and store the result."""
    folders = list(folders)
    result = load_folder(folders)
    with db.transaction() as session:
        return apply_folder_result(session, result, folders=folders, now=pendulum.now("UTC"),
                                   paused_at_creation=paused_at_creation)


def apply_folder_result(
    session: Session, result: FolderResult, *, folders: list[Path], now: datetime, paused_at_creation: bool
) -> SyncReport:
    """Store parsed DAGs and import errors; deactivate DAGs whose files no longer define them."""
    changed = sum(
        store_serialized_dag(session, serialize_dag(dag), now=now, paused_at_creation=paused_at_creation)
        for dag in result.dags.values()
    )
    replace_import_errors(session, result.errors.values(), files=[str(f) for f in result.files], now=now)
    deactivated = _deactivate_missing(session, set(result.dags), folders, broken=set(result.errors))
    return SyncReport(files=len(result.files), dags=len(result.dags), changed=changed,
                      import_errors=len(result.errors), deactivated=deactivated)


def _deactivate_missing(session: Session, seen: set[str], folders: list[Path], *, broken: set[str]) -> int:
    """DAGs stored from these folders that were not seen now (and whose file is not just broken)."""
    prefixes = [str(Path(f).resolve()) for f in folders]
    query = sa.select(DagModel).where(DagModel.is_active.is_(True))
    gone = [
        model for model in session.scalars(query)
        if model.dag_id not in seen and model.fileloc not in broken
        and any((model.fileloc or "").startswith(p) for p in prefixes)
    ]
    for model in gone:
        model.is_active = False
    return len(gone)
