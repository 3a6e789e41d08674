"""DAG-level services: list, show, import errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings, dag_folders
from dagflow.dag_processing.job import processor_alive
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.exceptions import DagNotFound
from dagflow.models import DagModel, ImportError_, SerializedDagModel
from dagflow.serialization import deserialize_dag
from dagflow.services.database import ensure_schema
from dagflow.services.reports import iso

#: A DAG processor whose job heartbeat is younger than this keeps the DB current for us.
PROCESSOR_ALIVE_WITHIN = timedelta(seconds=30)


def refresh(settings: Settings, db: Database) -> None:
    """Make sure the schema exists and the DB reflects the DAG folders.

    When a DAG processor (standalone or inside a scheduler) is alive, the DB is already
    current. Otherwise one processor pass runs now: files are parsed in isolated
    processes under ``parsing_timeout``, so a DAG file that hangs cannot hang the CLI.
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
