"""The morning look: each DAG's latest runs, and a health summary (heartbeats, failed runs, pools, import errors)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import DagRun, ImportError_
from dagflow.services.health import ComponentHealth, health
from dagflow.services.pools import list_pools
from dagflow.state import DagRunState

#: How many of a DAG's latest runs the DAG list shows.
RECENT_RUNS = 5


@dataclass(frozen=True)
class RecentRun:
    """One of a DAG's latest runs, as a coloured dot on the DAG list."""

    run_id: str
    state: str
    logical_date: datetime | None


@dataclass(frozen=True)
class PoolUsage:
    """A pool's slots (-1: unlimited) and how many are taken by running and queued task instances."""

    name: str
    slots: int
    running: int
    queued: int


@dataclass(frozen=True)
class HealthSummary:
    """What the health strip above the DAG list shows."""

    components: dict[str, ComponentHealth]
    failed_runs_24h: int
    import_errors: int
    pools: tuple[PoolUsage, ...]


def recent_runs(db: Database, dag_ids: Sequence[str], *, per_dag: int = RECENT_RUNS) -> dict[str, list[RecentRun]]:
    """The latest ``per_dag`` runs of each DAG in ``dag_ids`` (newest first), in one query."""
    if not dag_ids:
        return {}
    rank = (
        sa.func.row_number()
        .over(partition_by=DagRun.dag_id, order_by=(DagRun.logical_date.desc(), DagRun.id.desc()))
        .label("rank")
    )
    inner = (
        sa.select(DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.logical_date, rank)
        .where(DagRun.dag_id.in_(list(dag_ids)))
        .subquery()
    )
    query = sa.select(inner.c.dag_id, inner.c.run_id, inner.c.state, inner.c.logical_date).where(
        inner.c.rank <= per_dag
    )
    runs: dict[str, list[RecentRun]] = {dag_id: [] for dag_id in dag_ids}
    with db.transaction(readonly=True) as session:
        for dag_id, run_id, state, logical_date in session.execute(query.order_by(inner.c.dag_id, inner.c.rank)):
            runs[dag_id].append(RecentRun(run_id, DagRunState(state).value, logical_date))
    return runs


def health_summary(settings: Settings, db: Database, *, now: datetime | None = None) -> HealthSummary:
    """Heartbeats of the scheduler, DAG processor and triggerer; failed runs in the last 24 h; pools; import errors."""
    since = (now or pendulum.now("UTC")) - timedelta(hours=24)
    with db.transaction(readonly=True) as session:
        failed = session.scalar(
            sa.select(sa.func.count())
            .select_from(DagRun)
            .where(DagRun.state == DagRunState.FAILED, DagRun.end_date >= since)
        )
        errors = session.scalar(sa.select(sa.func.count()).select_from(ImportError_))
    pools = tuple(PoolUsage(p.pool, p.slots, p.running, p.queued) for p in list_pools(db))
    return HealthSummary(health(settings, db).components, int(failed or 0), int(errors or 0), pools)
