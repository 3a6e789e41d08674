"""``dags reserialize``: parse every DAG file again and rewrite every serialized DAG (after an upgrade, say)."""

from __future__ import annotations

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings, dag_folders
from dagflow.dag_processing.processor import DagProcessor, ScanReport
from dagflow.db import Database
from dagflow.models import DagFile, SerializedDagModel


def reserialize_all(settings: Settings, db: Database) -> ScanReport:
    """Forget every parse stamp and DAG hash, then one full processor pass (each file under ``parsing_timeout``)."""
    with db.transaction() as session:
        session.execute(sa.delete(DagFile))
        session.execute(sa.update(SerializedDagModel).values(dag_hash=""))  # stored anew, even if unchanged
    processor = DagProcessor(settings, db, folders=dag_folders(settings), changed_only=True)
    try:
        return processor.scan(pendulum.now("UTC"))
    finally:
        processor.close(pendulum.now("UTC"))
