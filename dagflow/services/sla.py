"""SLA misses recorded by the scheduler's SLA checker (``dagflow.scheduler.sla``), for people."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import SlaMiss
from dagflow.services.database import ensure_schema
from dagflow.services.reports import iso

#: Columns of ``dagflow sla list`` (JSON has the same keys).
SLA_MISS_KEYS = (
    "dag_id",
    "task_id",
    "run_id",
    "map_index",
    "logical_date",
    "expected_by",
    "late_by_seconds",
    "detected_at",
    "callback_ran",
)


def list_sla_misses(db: Database, *, dag_id: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
    """Recorded misses, newest first (of one DAG with ``dag_id``), at most ``limit``."""
    ensure_schema(db)
    query = sa.select(SlaMiss).order_by(SlaMiss.detected_at.desc(), SlaMiss.id.desc()).limit(limit)
    if dag_id is not None:
        query = query.where(SlaMiss.dag_id == dag_id)
    with db.transaction(readonly=True) as session:
        return [_row(miss) for miss in session.scalars(query)]


def _row(miss: SlaMiss) -> dict[str, Any]:
    return {
        "dag_id": miss.dag_id,
        "task_id": miss.task_id,
        "run_id": miss.run_id,
        "map_index": miss.map_index,
        "logical_date": iso(miss.logical_date),
        "expected_by": iso(miss.expected_by),
        "late_by_seconds": miss.late_by_seconds,
        "detected_at": iso(miss.detected_at),
        "callback_ran": miss.callback_ran,
    }
