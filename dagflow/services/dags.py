"""DAG-level services: list, show, import errors."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.exceptions import DagNotFound
from dagflow.models import DagModel, ImportError_, SerializedDagModel
from dagflow.serialization import deserialize_dag
from dagflow.services.dag_sources import dag_folders
from dagflow.services.database import ensure_schema
from dagflow.services.reports import iso


def refresh(settings: Settings, db: Database) -> None:
    """Make sure the schema exists and the DB reflects the DAG folders (parsed in-process)."""
    ensure_schema(db)
    sync_folders(db, dag_folders(settings), paused_at_creation=settings.core.dags_are_paused_at_creation)


def list_dags(settings: Settings, db: Database, *, parse: bool = True) -> list[dict[str, Any]]:
    """Active DAGs with their paused flag, file and schedule."""
    if parse:
        refresh(settings, db)
    with db.transaction(readonly=True) as session:
        query = sa.select(DagModel).where(DagModel.is_active.is_(True)).order_by(DagModel.dag_id)
        return [
            {
                "dag_id": m.dag_id,
                "is_paused": m.is_paused,
                "fileloc": m.fileloc,
                "schedule": m.schedule_description,
                "tags": list(m.tags or []),
                "owners": m.owners,
                "has_import_errors": m.has_import_errors,
                "next_dagrun": iso(m.next_dagrun),
            }
            for m in session.scalars(query)
        ]


def list_import_errors(settings: Settings, db: Database, *, parse: bool = True) -> list[dict[str, Any]]:
    """Files that failed to import: file, line, one-line message, when."""
    if parse:
        refresh(settings, db)
    with db.transaction(readonly=True) as session:
        query = sa.select(ImportError_).order_by(ImportError_.filename)
        return [
            {"filename": e.filename, "lineno": e.lineno, "message": e.message, "timestamp": iso(e.timestamp)}
            for e in session.scalars(query)
        ]


def show_dag(settings: Settings, db: Database, dag_id: str, *, parse: bool = True) -> dict[str, Any]:
    """A DAG's attributes and its tasks with their downstream tasks."""
    if parse:
        refresh(settings, db)
    with db.transaction(readonly=True) as session:
        stored = session.get(SerializedDagModel, dag_id)
        model = session.get(DagModel, dag_id)
        if stored is None or model is None:
            raise DagNotFound(f"DAG {dag_id!r} not found (see `dagflow dags list`)")
        sdag = deserialize_dag(stored.data)
    return {
        "dag_id": sdag.dag_id,
        "fileloc": sdag.fileloc,
        "schedule": sdag.schedule,
        "is_paused": model.is_paused,
        "description": sdag.description,
        "tasks": [
            {
                "task_id": t.task_id,
                "operator": t.task_type,
                "trigger_rule": str(t.trigger_rule),
                "downstream": sorted(t.downstream_task_ids),
                "upstream": sorted(t.upstream_task_ids),
            }
            for t in (sdag.get_task(i) for i in sdag.topological_order())
        ],
    }
