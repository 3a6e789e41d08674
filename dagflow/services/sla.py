"""SLA misses recorded by the scheduler's SLA checker (``dagflow.scheduler.sla``), for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import SlaMiss
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import Page
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


@dataclass(frozen=True)
class SlaMissRecord:
    """One task that finished (or was still running) after its run's data interval end + its ``sla``."""

    id: int
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    logical_date: datetime | None
    expected_by: datetime
    late_by_seconds: float
    detected_at: datetime
    callback_ran: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe row (dates as ISO text)."""
        row = asdict(self)
        for name in ("logical_date", "expected_by", "detected_at"):
            row[name] = iso(row[name])
        return row

    @classmethod
    def of(cls, m: SlaMiss) -> SlaMissRecord:
        """From an ``sla_miss`` row."""
        return cls(
            m.id, m.dag_id, m.task_id, m.run_id, m.map_index, m.logical_date, m.expected_by,
            m.late_by_seconds, m.detected_at, m.callback_ran,
        )  # fmt: skip


def list_sla_misses(db: Database, *, dag_id: str | None = None, limit: int = 1000) -> list[SlaMissRecord]:
    """Recorded misses, newest first (of one DAG with ``dag_id``), at most ``limit``."""
    ensure_schema(db)
    query = sa.select(SlaMiss).order_by(SlaMiss.detected_at.desc(), SlaMiss.id.desc()).limit(limit)
    if dag_id is not None:
        query = query.where(SlaMiss.dag_id == dag_id)
    with db.transaction(readonly=True) as session:
        return [SlaMissRecord.of(miss) for miss in session.scalars(query)]


_ORDER = {
    "id": SlaMiss.id,
    "dag_id": SlaMiss.dag_id,
    "task_id": SlaMiss.task_id,
    "logical_date": SlaMiss.logical_date,
    "expected_by": SlaMiss.expected_by,
    "detected_at": SlaMiss.detected_at,
    "late_by_seconds": SlaMiss.late_by_seconds,
}


def query_sla_misses(
    db: Database, part: Slice, *, dag_id: str | None = None, hidden_dag_ids: frozenset[str] = frozenset()
) -> Page[SlaMissRecord]:
    """A page of misses, newest first unless ordered (of one DAG; ``hidden_dag_ids`` left out)."""
    ensure_schema(db)
    query = sa.select(SlaMiss)
    if dag_id is not None:
        query = query.where(SlaMiss.dag_id == dag_id)
    if hidden_dag_ids:
        query = query.where(SlaMiss.dag_id.not_in(sorted(hidden_dag_ids)))
    default = [SlaMiss.detected_at.desc(), SlaMiss.id.desc()]
    with db.transaction(readonly=True) as session:
        return paged(session, query, part, _ORDER, default, lambda row: SlaMissRecord.of(row[0]))
