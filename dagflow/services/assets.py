"""Asset services: list assets (with who produces and who consumes them), list and create events, materialize.

Typed results (``AssetSummary``, ``AssetEventInfo``) so the CLI, the REST API and the UI
read the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    DagScheduleAssetReference,
    TaskOutletAssetReference,
)
from dagflow.services.database import ensure_schema

__all__ = [
    "AssetEventInfo",
    "AssetNotFound",
    "AssetSummary",
    "create_asset_event",
    "event_dict",
    "list_asset_events",
    "list_assets",
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
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return query_assets(session, uri_pattern=uri_pattern)


def query_assets(session: Session, *, uri_pattern: str | None = None) -> list[AssetSummary]:
    """``list_assets`` in the caller's transaction."""
    query = sa.select(AssetModel).order_by(AssetModel.uri)
    if uri_pattern:
        query = query.where(AssetModel.uri.contains(uri_pattern, autoescape=True))
    assets = list(session.scalars(query))
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
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return query_asset_events(session, uri=uri, source_dag_id=source_dag_id, limit=limit, offset=offset)


def query_asset_events(
    session: Session, *, uri: str | None = None, source_dag_id: str | None = None, limit: int = 100, offset: int = 0
) -> list[AssetEventInfo]:
    """``list_asset_events`` in the caller's transaction."""
    if limit < 1 or offset < 0:
        raise InvalidInput("limit must be at least 1 and offset at least 0")
    query = events_query().order_by(None).order_by(AssetEvent.timestamp.desc(), AssetEvent.id.desc())
    if uri is not None:
        if session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == uri)) is None:
            raise AssetNotFound(f"asset {uri!r} does not exist")
        query = query.where(AssetModel.uri == uri)
    if source_dag_id is not None:
        query = query.where(AssetEvent.source_dag_id == source_dag_id)
    return [event_info(row) for row in session.execute(query.limit(limit).offset(offset))]


def create_asset_event(db: Database, uri: str, *, extra: Mapping[str, Any] | None = None) -> AssetEventInfo:
    """Record an event for an existing asset by hand (no source task); the DAGs scheduled on it are queued."""
    ensure_schema(db)
    now = pendulum.now("UTC")
    with db.transaction() as session:
        if session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == uri)) is None:
            raise AssetNotFound(f"asset {uri!r} does not exist")
        (event_id,) = record_asset_events(session, [(uri, dict(extra or {}))], now=now)
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
