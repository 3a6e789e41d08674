"""Asset services: list assets (with who produces and who consumes them), list and create events, materialize.

Typed results (``AssetSummary``, ``AssetEventInfo``) so the CLI, the REST API and the UI
read the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import InvalidInput, NotFound
from dagflow.execution.assets import AssetEventInfo, event_info, events_query, record_asset_events
from dagflow.models import (
    AssetDagRunQueue,
    AssetEvent,
    AssetModel,
    DagRun,
    DagRunAssetEvent,
    DagScheduleAssetReference,
    TaskOutletAssetReference,
)
from dagflow.services import events as audit
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import Page

__all__ = [
    "AssetEventInfo",
    "AssetNotFound",
    "AssetSummary",
    "EventFilter",
    "create_asset_event",
    "created_dag_runs",
    "event_dict",
    "get_asset",
    "list_asset_events",
    "list_assets",
    "page_asset_events",
    "page_assets",
    "producing_tasks",
]


class AssetNotFound(NotFound):
    """No asset with that URI."""


@dataclass(frozen=True)
class AssetSummary:
    """One asset: its URI, the DAGs scheduled on it, the tasks producing it, its events."""

    id: int
    uri: str
    name: str
    group: str
    extra: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    consuming_dags: list[str]
    producing_tasks: list[str]
    queued_for: list[str]
    event_count: int
    last_event_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates ISO-8601)."""
        data = asdict(self)
        for key in ("created_at", "updated_at", "last_event_at"):
            data[key] = _iso(data[key])
        return data


def list_assets(db: Database, *, uri_pattern: str | None = None) -> list[AssetSummary]:
    """Every asset by URI (``uri_pattern``: a substring to match)."""
    return list(page_assets(db, Slice(limit=1_000_000), uri_pattern=uri_pattern).items)


def page_assets(
    db: Database, part: Slice, *, uri_pattern: str | None = None, dag_ids: Sequence[str] = ()
) -> Page[AssetSummary]:
    """A page of assets (``uri_pattern`` a substring of the URI; ``dag_ids``: consumed or produced by them)."""
    ensure_schema(db)
    query = sa.select(AssetModel)
    if uri_pattern:
        query = query.where(AssetModel.uri.contains(uri_pattern, autoescape=True))
    if dag_ids:
        consumed = sa.select(DagScheduleAssetReference.asset_id).where(DagScheduleAssetReference.dag_id.in_(dag_ids))
        produced = sa.select(TaskOutletAssetReference.asset_id).where(TaskOutletAssetReference.dag_id.in_(dag_ids))
        query = query.where(sa.or_(AssetModel.id.in_(consumed), AssetModel.id.in_(produced)))
    order = {"id": AssetModel.id, "uri": AssetModel.uri, "name": AssetModel.name, "group": AssetModel.group}
    with db.transaction(readonly=True) as session:
        page = paged(session, query, part, order, [AssetModel.uri], lambda row: row[0])
        return Page(_summaries(session, page.items), page.total)


def get_asset(db: Database, asset_id: int) -> AssetSummary:
    """One asset by id; ``AssetNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        asset = session.get(AssetModel, asset_id)
        if asset is None:
            raise AssetNotFound(f"asset {asset_id} does not exist")
        return _summaries(session, [asset])[0]


def _summaries(session: Session, assets: Sequence[AssetModel]) -> list[AssetSummary]:
    ids = [a.id for a in assets]
    consumers = _grouped(session, DagScheduleAssetReference.asset_id, DagScheduleAssetReference.dag_id, ids)
    queued = _grouped(session, AssetDagRunQueue.asset_id, AssetDagRunQueue.target_dag_id, ids)
    producers: dict[int, list[str]] = {}
    for asset_id, dag_id, task_id in session.execute(
        sa.select(TaskOutletAssetReference.asset_id, TaskOutletAssetReference.dag_id, TaskOutletAssetReference.task_id)
        .where(TaskOutletAssetReference.asset_id.in_(ids))
        .order_by(TaskOutletAssetReference.dag_id, TaskOutletAssetReference.task_id)
    ):
        producers.setdefault(asset_id, []).append(f"{dag_id}.{task_id}")
    stats = {
        asset_id: (count, last)
        for asset_id, count, last in session.execute(
            sa.select(AssetEvent.asset_id, sa.func.count(), sa.func.max(AssetEvent.timestamp))
            .where(AssetEvent.asset_id.in_(ids))
            .group_by(AssetEvent.asset_id)
        )
    }
    return [
        AssetSummary(
            id=a.id,
            uri=a.uri,
            name=a.name,
            group=a.group,
            extra=dict(a.extra or {}),
            created_at=a.created_at,
            updated_at=a.updated_at,
            consuming_dags=consumers.get(a.id, []),
            producing_tasks=producers.get(a.id, []),
            queued_for=queued.get(a.id, []),
            event_count=stats.get(a.id, (0, None))[0],
            last_event_at=stats.get(a.id, (0, None))[1],
        )
        for a in assets
    ]


def _grouped(session: Session, key: Any, value: Any, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for k, v in session.execute(sa.select(key, value).where(key.in_(ids)).order_by(value)):
        found.setdefault(k, []).append(v)
    return found


def list_asset_events(
    db: Database,
    *,
    uri: str | None = None,
    source_dag_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AssetEventInfo]:
    """Asset events, newest first (``uri``/``source_dag_id`` filter); ``AssetNotFound`` for an unknown URI."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be at least 1 and offset at least 0")
    asset_id = None
    if uri is not None:
        ensure_schema(db)
        with db.transaction(readonly=True) as session:
            asset_id = session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == uri))
        if asset_id is None:
            raise AssetNotFound(f"asset {uri!r} does not exist")
    part = Slice(limit=limit, offset=offset, order_by=("-timestamp",))
    return list(page_asset_events(db, part, EventFilter(asset_id=asset_id, source_dag_id=source_dag_id)).items)


@dataclass(frozen=True)
class EventFilter:
    """Which asset events to list (None: any)."""

    asset_id: int | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None


def page_asset_events(db: Database, part: Slice, flt: EventFilter = EventFilter()) -> Page[AssetEventInfo]:
    """A page of asset events (default order: oldest first, as Airflow's API)."""
    ensure_schema(db)
    query = events_query().order_by(None)
    for name in ("asset_id", "source_dag_id", "source_task_id", "source_run_id", "source_map_index"):
        value = getattr(flt, name)
        if value is not None:
            query = query.where(getattr(AssetEvent, name) == value)
    order = {
        "id": AssetEvent.id,
        "timestamp": AssetEvent.timestamp,
        "asset_id": AssetEvent.asset_id,
        "source_dag_id": AssetEvent.source_dag_id,
        "source_task_id": AssetEvent.source_task_id,
        "source_run_id": AssetEvent.source_run_id,
        "source_map_index": AssetEvent.source_map_index,
    }
    with db.transaction(readonly=True) as session:
        return paged(session, query, part, order, [AssetEvent.id], event_info)


def created_dag_runs(db: Database, event_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """For each event id, the runs it triggered: ``{run_id, dag_id, logical_date, start_date, end_date, state, data_interval_start, data_interval_end}``."""
    if not event_ids:
        return {}
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(DagRunAssetEvent.event_id, DagRun)
            .join(DagRun, DagRun.id == DagRunAssetEvent.dag_run_id)
            .where(DagRunAssetEvent.event_id.in_(list(event_ids)))
            .order_by(DagRun.id)
        ).all()
        found: dict[int, list[dict[str, Any]]] = {}
        for event_id, run in rows:
            found.setdefault(event_id, []).append(
                {
                    "run_id": run.run_id,
                    "dag_id": run.dag_id,
                    "logical_date": run.logical_date,
                    "start_date": run.start_date,
                    "end_date": run.end_date,
                    "state": run.state.value,
                    "data_interval_start": run.data_interval_start,
                    "data_interval_end": run.data_interval_end,
                }
            )
        return found


def create_asset_event(
    db: Database, uri: str | None = None, *, asset_id: int | None = None, extra: Mapping[str, Any] | None = None
) -> AssetEventInfo:
    """Record an event for an existing asset (by URI or id) by hand; the DAGs scheduled on it are queued."""
    ensure_schema(db)
    now = pendulum.now("UTC")
    with db.transaction() as session:
        where = AssetModel.uri == uri if uri is not None else AssetModel.id == asset_id
        found = session.scalar(sa.select(AssetModel.uri).where(where))
        if found is None:
            raise AssetNotFound(f"asset {uri if uri is not None else asset_id!r} does not exist")
        uri = found
        (event_id,) = record_asset_events(session, [(uri, dict(extra or {}))], now=now)
        audit.record(session, "create_asset_event", extra={"uri": uri, "asset_event_id": event_id})
        row = session.execute(events_query().where(AssetEvent.id == event_id)).one()
        return event_info(row)


def producing_tasks(db: Database, uri: str) -> list[tuple[str, str]]:
    """``(dag_id, task_id)`` of the tasks with ``uri`` in their outlets; ``AssetNotFound`` for an unknown URI."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        asset_id = session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == uri))
        if asset_id is None:
            raise AssetNotFound(f"asset {uri!r} does not exist")
        rows = session.execute(
            sa.select(TaskOutletAssetReference.dag_id, TaskOutletAssetReference.task_id)
            .where(TaskOutletAssetReference.asset_id == asset_id)
            .order_by(TaskOutletAssetReference.dag_id, TaskOutletAssetReference.task_id)
        )
        return [(d, t) for d, t in rows]


def event_dict(event: AssetEventInfo) -> dict[str, Any]:
    """A JSON-ready dict of one event (``timestamp`` ISO-8601)."""
    data = asdict(event)
    data["timestamp"] = _iso(event.timestamp)
    return data


def _iso(value: datetime | None) -> str | None:
    return None if value is None else pendulum.instance(value).in_timezone("UTC").isoformat()
