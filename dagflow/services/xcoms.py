"""XCom entries for people and the REST API: list per task instance (or across, as Airflow's ``~``), read one value;
the web UI's per-task-instance list with secrets masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import NotFound
from dagflow.execution.xcom import decode
from dagflow.models import DagRun, XCom
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import Page
from dagflow.services.secrets import output_masker
from dagflow.storage.internal import InternalStorage


class XComNotFound(NotFound):
    """No XCom with that key for that task instance."""


@dataclass(frozen=True)
class XComRecord:
    """One XCom entry; ``value`` is the stored JSON (a large value's storage reference is followed on ``get_xcom``)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    timestamp: datetime
    logical_date: datetime | None
    value: Any = None


@dataclass(frozen=True)
class XComFilter:
    """Which entries: None for the DAG, run or task means any (Airflow's ``~``)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    key: str | None = None
    map_index: int | None = None
    hidden_dag_ids: frozenset[str] = frozenset()


_ORDER = {
    "key": XCom.key,
    "timestamp": XCom.created_at,
    "task_id": XCom.task_id,
    "map_index": XCom.map_index,
    "dag_id": XCom.dag_id,
    "run_id": XCom.run_id,
    "logical_date": DagRun.logical_date,
}
#: Keys dagflow keeps for itself (approval decisions, branch choices) start with ``__``; they are listed too.


def query_xcoms(db: Database, flt: XComFilter, part: Slice) -> Page[XComRecord]:
    """A page of XCom entries (without values), by DAG, run, task, map index and key unless ordered."""
    ensure_schema(db)
    query = sa.select(XCom, DagRun.logical_date).join(
        DagRun, sa.and_(DagRun.dag_id == XCom.dag_id, DagRun.run_id == XCom.run_id)
    )
    for column, value in (
        (XCom.dag_id, flt.dag_id),
        (XCom.run_id, flt.run_id),
        (XCom.task_id, flt.task_id),
        (XCom.key, flt.key),
        (XCom.map_index, flt.map_index),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.hidden_dag_ids:
        query = query.where(XCom.dag_id.not_in(sorted(flt.hidden_dag_ids)))
    default = [XCom.dag_id, XCom.run_id, XCom.task_id, XCom.map_index, XCom.key]
    with db.transaction(readonly=True) as session:
        return paged(session, query, part, _ORDER, default, lambda row: _record(row[0], row[1], with_value=False))


def get_xcom(
    settings: Settings, db: Database, *, dag_id: str, run_id: str, task_id: str, key: str, map_index: int = -1
) -> XComRecord:
    """One entry with its value (a large value is read back from internal storage)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        row = session.execute(
            sa.select(XCom, DagRun.logical_date)
            .join(DagRun, sa.and_(DagRun.dag_id == XCom.dag_id, DagRun.run_id == XCom.run_id))
            .where(
                XCom.dag_id == dag_id,
                XCom.run_id == run_id,
                XCom.task_id == task_id,
                XCom.map_index == map_index,
                XCom.key == key,
            )
        ).one_or_none()
        if row is None:
            raise XComNotFound(
                f"no XCom {key!r} for task {task_id!r} (map index {map_index}) in run {run_id!r} of {dag_id!r}"
            )
        record = _record(row[0], row[1], with_value=False)
        stored = row[0].value
    storage = InternalStorage(settings.storage.url, dag_id=dag_id, run_id=run_id)
    return XComRecord(**{**record.__dict__, "value": decode(stored, storage=storage)})


def _record(x: XCom, logical_date: datetime | None, *, with_value: bool) -> XComRecord:
    value = x.value if with_value else None
    return XComRecord(x.dag_id, x.run_id, x.task_id, x.map_index, x.key, x.created_at, logical_date, value)


def task_xcoms(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[XComRecord]:
    """Every XCom of one task instance, by key, values masked (sensitive keys hidden, known secrets replaced).

    A large value shows as its storage reference.
    """
    masker = output_masker(db)
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(XCom, DagRun.logical_date)
            .join(DagRun, sa.and_(DagRun.dag_id == XCom.dag_id, DagRun.run_id == XCom.run_id))
            .where(XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.map_index == map_index)
            .order_by(XCom.key)
        ).all()
        records = [_record(x, logical_date, with_value=True) for x, logical_date in rows]
    return [XComRecord(**{**r.__dict__, "value": masker.redact(r.value, r.key)}) for r in records]
