"""Asset events around one try: ``outlet_events`` and ``inlet_events`` in the context, and recording them.

A successful try of a task with ``outlets`` records one ``asset_event`` per outlet (with
the ``extra`` the task set through ``context["outlet_events"][asset].extra``), in the
transaction that records its success, and queues every active, unpaused DAG scheduled on
that asset (``asset_dag_run_queue``); the scheduler turns the queue into runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.exceptions import XComError
from dagflow.models import (
    AssetDagRunQueue,
    AssetEvent,
    AssetModel,
    DagModel,
    DagRunAssetEvent,
    DagScheduleAssetReference,
)
from dagflow.models.asset import ensure_assets
from dagflow.sdk.assets import Asset, OutletEventAccessors

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dagflow.db import Database


@dataclass(frozen=True)
class AssetEventInfo:
    """One asset event as a task or a person sees it."""

    id: int
    uri: str
    extra: dict[str, Any]
    asset_id: int
    source_dag_id: str | None
    source_task_id: str | None
    source_run_id: str | None
    source_map_index: int
    timestamp: datetime
    #: The asset's name and group (its URI and ``asset`` unless the DAG named them).
    name: str = ""
    group: str = "asset"


def outlet_events_of(task: Any, accessors: OutletEventAccessors) -> list[tuple[str, dict[str, Any]]]:
    """``(uri, extra)`` for each of the task's outlets; ``XComError`` if an extra is not JSON."""
    events: list[tuple[str, dict[str, Any]]] = []
    for asset in getattr(task, "outlets", None) or ():
        if not isinstance(asset, Asset):
            continue
        extra = accessors.extra_for(asset.uri)
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise XComError(f"outlet_events[{asset.uri!r}].extra is not JSON: {exc}") from None
        events.append((asset.uri, extra))
    return events


def record_asset_events(
    session: Session,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    source: Mapping[str, Any] | None = None,
    now: datetime,
) -> list[int]:
    """Insert one event per ``(uri, extra)`` and queue the DAGs scheduled on those assets; the event ids."""
    if not events:
        return []
    ids = ensure_assets(session, [uri for uri, _ in events])
    source = dict(source or {})
    event_ids: list[int] = []
    for uri, extra in events:
        row = AssetEvent(asset_id=ids[uri], extra=dict(extra) or None, timestamp=now, **source)
        session.add(row)
        session.flush()
        event_ids.append(row.id)
    _queue_consumers(session, sorted(set(ids.values())), now)
    return event_ids


def _queue_consumers(session: Session, asset_ids: list[int], now: datetime) -> None:
    """An ``asset_dag_run_queue`` row per (asset, active unpaused consuming DAG) not queued yet."""
    consumers = session.execute(
        sa.select(DagScheduleAssetReference.asset_id, DagScheduleAssetReference.dag_id)
        .join(DagModel, DagModel.dag_id == DagScheduleAssetReference.dag_id)
        .where(
            DagScheduleAssetReference.asset_id.in_(asset_ids),
            DagModel.is_paused.is_(False),
            DagModel.is_active.is_(True),
        )
    ).all()
    if not consumers:
        return
    queued = set(
        session.execute(
            sa.select(AssetDagRunQueue.asset_id, AssetDagRunQueue.target_dag_id).where(
                AssetDagRunQueue.asset_id.in_(asset_ids)
            )
        ).all()
    )
    for asset_id, dag_id in consumers:
        if (asset_id, dag_id) in queued:
            continue
        try:
            with session.begin_nested():
                session.add(AssetDagRunQueue(asset_id=asset_id, target_dag_id=dag_id, created_at=now))
                session.flush()
        except sa.exc.IntegrityError:
            pass  # another producer queued it at the same moment


_EVENT_COLUMNS = (
    AssetEvent.id,
    AssetModel.uri,
    AssetEvent.extra,
    AssetEvent.asset_id,
    AssetEvent.source_dag_id,
    AssetEvent.source_task_id,
    AssetEvent.source_run_id,
    AssetEvent.source_map_index,
    AssetEvent.timestamp,
    AssetModel.name,
    AssetModel.group,
)


def event_info(row: Any) -> AssetEventInfo:
    """An ``AssetEventInfo`` from a row of ``_EVENT_COLUMNS``."""
    return AssetEventInfo(
        id=row[0],
        uri=row[1],
        extra=dict(row[2] or {}),
        asset_id=row[3],
        source_dag_id=row[4],
        source_task_id=row[5],
        source_run_id=row[6],
        source_map_index=row[7],
        timestamp=row[8],
        name=row[9],
        group=row[10],
    )


def events_query() -> sa.Select[Any]:
    """Asset events with their URI, oldest first."""
    return sa.select(*_EVENT_COLUMNS).join(AssetModel, AssetModel.id == AssetEvent.asset_id).order_by(AssetEvent.id)


def triggering_events(session: Session, dag_run_id: int) -> dict[str, list[AssetEventInfo]]:
    """The events an ``asset_triggered`` run consumed, by URI (oldest first)."""
    rows = session.execute(
        events_query()
        .join(DagRunAssetEvent, DagRunAssetEvent.event_id == AssetEvent.id)
        .where(DagRunAssetEvent.dag_run_id == dag_run_id)
    )
    found: dict[str, list[AssetEventInfo]] = {}
    for row in rows:
        info = event_info(row)
        found.setdefault(info.uri, []).append(info)
    return found


class InletEventsAccessor(Mapping[Any, list[AssetEventInfo]]):
    """``context["inlet_events"][asset]``: the events of that asset that triggered this run.

    Read from the DB on first use. Keys are ``Asset`` objects or URIs; an asset with no
    triggering event (or a run that was not asset-triggered) gives an empty list.
    """

    def __init__(self, db: Database, dag_run_id: int) -> None:
        self._db = db
        self._dag_run_id = dag_run_id
        self._events: dict[str, list[AssetEventInfo]] | None = None

    def _load(self) -> dict[str, list[AssetEventInfo]]:
        if self._events is None:
            with self._db.transaction(readonly=True) as session:
                self._events = triggering_events(session, self._dag_run_id)
        return self._events

    def __getitem__(self, key: Any) -> list[AssetEventInfo]:
        uri = key.uri if isinstance(key, Asset) else str(key)
        return list(self._load().get(uri, []))

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())
