"""Assets and their events: what tasks produced, and which DAGs wait for it.

``asset`` (one row per URI), ``asset_event`` (one per successful try of a producing
task, with its ``extra``), ``asset_dag_run_queue`` (an asset with an event a consuming
DAG has not run on yet), ``dagrun_asset_event`` (the events an ``asset_triggered`` run
consumed), and the references the DAG processor stores: which DAG is scheduled on which
asset, which task produces which.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from dagflow.models.base import ID_LEN, Base, JSONText, UTCDateTime, utcnow

URI_LEN = 1500


class AssetModel(Base):
    """One asset, by URI; made when a DAG that names it is stored or an event for it is recorded."""

    __tablename__ = "asset"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(sa.String(URI_LEN), unique=True)
    name: Mapped[str] = mapped_column(sa.String(URI_LEN))
    group: Mapped[str] = mapped_column(sa.String(ID_LEN), default="asset", server_default="asset")
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AssetEvent(Base):
    """An asset was updated: by a task instance (``source_*``) or by hand (no source)."""

    __tablename__ = "asset_event"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("asset.id", ondelete="CASCADE"))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    source_dag_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    source_task_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    source_run_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    source_map_index: Mapped[int] = mapped_column(default=-1, server_default=sa.text("-1"))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.Index("ix_asset_event_asset_id_timestamp", "asset_id", "timestamp"),)


class AssetDagRunQueue(Base):
    """Asset ``asset_id`` has an event DAG ``target_dag_id`` has not run on yet."""

    __tablename__ = "asset_dag_run_queue"

    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True)
    target_dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DagRunAssetEvent(Base):
    """The asset events an ``asset_triggered`` run consumed (its ``triggering_asset_events``)."""

    __tablename__ = "dagrun_asset_event"

    dag_run_id: Mapped[int] = mapped_column(sa.ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[int] = mapped_column(sa.ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True)


class DagScheduleAssetReference(Base):
    """DAG ``dag_id`` is scheduled on asset ``asset_id`` (rewritten at each parse)."""

    __tablename__ = "dag_schedule_asset_reference"

    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)


class TaskOutletAssetReference(Base):
    """Task ``dag_id.task_id`` lists asset ``asset_id`` in its ``outlets`` (rewritten at each parse)."""

    __tablename__ = "task_outlet_asset_reference"

    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)


def ensure_assets(session: Session, uris: Iterable[str]) -> dict[str, int]:
    """The ids of the assets with these URIs, making the rows that do not exist yet (never commits).

    A row another writer inserts at the same moment is read back after the savepoint fails.
    """
    wanted = list(dict.fromkeys(uris))
    if not wanted:
        return {}
    ids = _asset_ids(session, wanted)
    for uri in wanted:
        if uri in ids:
            continue
        try:
            with session.begin_nested():
                row = AssetModel(uri=uri, name=uri)
                session.add(row)
                session.flush()
                ids[uri] = row.id
        except IntegrityError:
            ids.update(_asset_ids(session, [uri]))
    return ids


def _asset_ids(session: Session, uris: list[str]) -> dict[str, int]:
    rows = session.execute(sa.select(AssetModel.uri, AssetModel.id).where(AssetModel.uri.in_(uris)))
    return {uri: asset_id for uri, asset_id in rows}


def replace_asset_references(
    session: Session,
    dag_id: str,
    *,
    schedule_uris: Iterable[str],
    outlets: Mapping[str, Iterable[str]],
    details: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Store which assets ``dag_id`` is scheduled on and which of its tasks produce which (never commits).

    ``details`` (``uri -> {"name", "group", "extra"}``) updates the assets' own fields: the
    DAG stored last wins (this runs only when a DAG changed).
    """
    outlets = {task_id: list(uris) for task_id, uris in outlets.items()}
    schedule_uris = list(schedule_uris)
    details = dict(details or {})
    ids = ensure_assets(session, [*schedule_uris, *(uri for uris in outlets.values() for uri in uris), *details])
    for uri, fields in details.items():
        values = {key: fields[key] for key in ("name", "group", "extra") if key in fields}
        values["extra"] = values.get("extra") or None
        session.execute(
            sa.update(AssetModel)
            .where(AssetModel.id == ids[uri])
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    session.execute(sa.delete(DagScheduleAssetReference).where(DagScheduleAssetReference.dag_id == dag_id))
    session.execute(sa.delete(TaskOutletAssetReference).where(TaskOutletAssetReference.dag_id == dag_id))
    for uri in dict.fromkeys(schedule_uris):
        session.add(DagScheduleAssetReference(asset_id=ids[uri], dag_id=dag_id))
    for task_id, uris in outlets.items():
        for uri in dict.fromkeys(uris):
            session.add(TaskOutletAssetReference(asset_id=ids[uri], dag_id=dag_id, task_id=task_id))
