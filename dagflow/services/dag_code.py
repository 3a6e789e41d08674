"""A DAG's source, as the DAG processor stored it (the web UI's code view; DAG files are never read here)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dagflow.db import Database
from dagflow.exceptions import NotFound
from dagflow.models import DagCode
from dagflow.services.dags import get_dag


class DagCodeNotFound(NotFound):
    """The DAG's file has no stored source (parsed before sources were kept: it is stored at its next change)."""


@dataclass(frozen=True)
class DagSource:
    """The file a DAG is defined in, its text and when it was stored."""

    fileloc: str
    source_code: str
    last_updated: datetime


def dag_source(db: Database, dag_id: str) -> DagSource:
    """The source of the file defining ``dag_id``; ``DagNotFound`` or ``DagCodeNotFound``."""
    dag = get_dag(db, dag_id)
    with db.transaction(readonly=True) as session:
        stored = session.get(DagCode, dag.fileloc) if dag.fileloc else None
        if stored is None:
            raise DagCodeNotFound(f"no source stored for DAG {dag_id!r} (file {dag.fileloc})")
        return DagSource(stored.fileloc, stored.source_code, stored.last_updated)
