"""``asset_triggered`` DAG runs: made when a DAG's asset condition holds over its queued assets.

A successful producing try queues each DAG scheduled on its assets
(``asset_dag_run_queue``, ``execution/assets.py``). On a full pass the scheduler, for
each DAG with queued assets (row locked ``SKIP LOCKED``: one scheduler per DAG),
evaluates the DAG's condition with "has a queued event" per asset; if it holds it
creates one queued run of type ``asset_triggered`` whose logical date is now, links the
events it consumes (the DAG's assets' events after its previous asset-triggered run, up
to now; Airflow's rule) and clears the DAG's queue. The run's data interval spans the
first to the last consumed event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import (
    AssetDagRunQueue,
    AssetEvent,
    AssetModel,
    DagModel,
    DagRun,
    DagRunAssetEvent,
    DagScheduleAssetReference,
)
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun, generate_run_id
from dagflow.scheduler.locking import skip_locked, unless_exists
from dagflow.sdk.assets import evaluate_expression
from dagflow.serialization import SerializedDag
from dagflow.state import DagRunTriggeredByType, DagRunType


def create_asset_triggered_runs(session: Session, store: SerializedDagStore, *, now: datetime) -> list[DagRun]:
    """Create the asset-triggered runs whose condition holds at ``now`` (see the module doc)."""
    queued = _queued_uris(session)
    if not queued:
        return []
    locked = skip_locked(
        session,
        sa.select(DagModel).where(
            DagModel.dag_id.in_(sorted(queued)), DagModel.is_paused.is_(False), DagModel.is_active.is_(True)
        ),
        DagModel,
    )
    models = list(session.scalars(locked))
    dags = store.get_many(session, [m.dag_id for m in models])
    created: list[DagRun] = []
    for model in models:
        entry = dags.get(model.dag_id)
        condition = entry.dag.asset_condition if entry is not None else None
        if entry is None or condition is None:
            continue
        statuses = dict.fromkeys(queued[model.dag_id], True)
        if not evaluate_expression(condition, statuses):
            continue
        run = _create_run(session, entry.dag, now)
        if run is not None:
            created.append(run)
            session.execute(sa.delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id == model.dag_id))
    return created


def _queued_uris(session: Session) -> dict[str, set[str]]:
    rows = session.execute(
        sa.select(AssetDagRunQueue.target_dag_id, AssetModel.uri).join(
            AssetModel, AssetModel.id == AssetDagRunQueue.asset_id
        )
    )
    found: dict[str, set[str]] = {}
    for dag_id, uri in rows:
        found.setdefault(dag_id, set()).add(uri)
    return found


def _create_run(session: Session, dag: SerializedDag, now: datetime) -> DagRun | None:
    events = _events_to_consume(session, dag.dag_id, now)
    start = min((ts for _, ts in events), default=now)
    end = max((ts for _, ts in events), default=now)
    run_id = generate_run_id(DagRunType.ASSET_TRIGGERED, now)
    run = unless_exists(
        session,
        lambda: create_dagrun(
            session,
            dag=dag,
            run_id=run_id,
            run_type=DagRunType.ASSET_TRIGGERED,
            triggered_by=DagRunTriggeredByType.ASSET,
            logical_date=now,
            data_interval=(start, end),
            now=now,
        ),
        f"DAG run {dag.dag_id}/{run_id}",
    )
    if run is not None:
        session.add_all(DagRunAssetEvent(dag_run_id=run.id, event_id=event_id) for event_id, _ in events)
        session.flush()
    return run


def _events_to_consume(session: Session, dag_id: str, now: datetime) -> Sequence[tuple[int, datetime]]:
    """Events of the DAG's assets after its previous asset-triggered run, up to ``now``."""
    previous = session.scalar(
        sa.select(sa.func.max(DagRun.logical_date)).where(
            DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.ASSET_TRIGGERED.value
        )
    )
    query = (
        sa.select(AssetEvent.id, AssetEvent.timestamp)
        .join(DagScheduleAssetReference, DagScheduleAssetReference.asset_id == AssetEvent.asset_id)
        .where(DagScheduleAssetReference.dag_id == dag_id, AssetEvent.timestamp <= now)
        .order_by(AssetEvent.id)
    )
    if previous is not None:
        query = query.where(AssetEvent.timestamp > previous)
    return [(row[0], row[1]) for row in session.execute(query)]
