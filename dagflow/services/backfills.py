"""Backfill services: plan and create a backfill, list backfills, read progress, cancel one.

Creating a backfill writes one ``backfill`` row and nothing else: the scheduler creates
(or re-runs) its runs a few at a time (``dagflow.scheduler.backfill``). ``dry_run``
returns the same plan and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import Conflict, NotFound
from dagflow.models import Backfill, DagRun
from dagflow.models.backfill import REPROCESS_NONE
from dagflow.models.transitions import set_dagrun_state
from dagflow.scheduler.backfill import (
    CREATE,
    RERUN,
    BackfillError,
    BackfillStep,
    backfill_intervals,
    count_by_state,
    existing_runs,
    plan_steps,
    steps_of,
)
from dagflow.scheduler.job import fresh_after, live_scheduler
from dagflow.serialization.params import validate_conf
from dagflow.services import events
from dagflow.services.dag_runs import ensure_dag_known, serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import Page
from dagflow.services.reports import iso
from dagflow.state import DagRunState


class BackfillNotFound(NotFound):
    """No backfill with that id."""


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill does to each interval (``steps`` in run order) and the row written, if any."""

    dag_id: str
    from_date: datetime
    to_date: datetime
    reprocess_behavior: str
    max_active_runs: int
    run_backwards: bool
    steps: tuple[BackfillStep, ...]
    backfill_id: int | None = None
    dry_run: bool = False
    conf: Mapping[str, Any] = field(default_factory=dict)

    @property
    def to_run(self) -> list[BackfillStep]:
        """The intervals that get a run (created or re-run)."""
        return [s for s in self.steps if s.action in (CREATE, RERUN)]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe document of the plan."""
        return {
            "backfill_id": self.backfill_id,
            "dag_id": self.dag_id,
            "from_date": iso(self.from_date),
            "to_date": iso(self.to_date),
            "reprocess_behavior": self.reprocess_behavior,
            "max_active_runs": self.max_active_runs,
            "run_backwards": self.run_backwards,
            "dry_run": self.dry_run,
            "total": len(self.to_run),
            "intervals": [step_row(s) for s in self.steps],
        }


def step_row(step: BackfillStep) -> dict[str, Any]:
    """One interval as a row: logical date, data interval, action and why."""
    return {
        "logical_date": iso(step.logical_date),
        "data_interval_start": iso(step.interval.start),
        "data_interval_end": iso(step.interval.end),
        "action": step.action,
        "reason": step.reason,
    }


def create_backfill(
    settings: Settings,
    db: Database,
    dag_id: str,
    start: datetime,
    end: datetime,
    reprocess_behavior: str = REPROCESS_NONE,
    max_active_runs: int | None = None,
    run_backwards: bool = False,
    conf: Mapping[str, Any] | None = None,
    dry_run: bool = False,
) -> BackfillPlan:
    """Plan a backfill of ``dag_id`` over ``[start, end]``; unless ``dry_run``, store it for the scheduler."""
    if max_active_runs is not None and max_active_runs < 1:
        raise BackfillError("max_active_runs must be at least 1")
    ensure_dag_known(settings, db, dag_id)
    start, end = _utc(start), _utc(end)
    with db.transaction(readonly=dry_run) as session:
        sdag = serialized_dag(session, dag_id)
        validate_conf(sdag, conf)
        if run_backwards and any(t.depends_on_past for t in sdag.tasks.values()):
            raise BackfillError(
                f"DAG {dag_id!r} has tasks with depends_on_past=True: it cannot be backfilled backwards"
            )
        intervals = backfill_intervals(sdag, start, end)
        if not intervals:
            raise BackfillError(
                f"no run of DAG {dag_id!r} falls between {start.isoformat()} and {end.isoformat()} "
                f"(schedule {sdag.schedule or 'None'}): nothing to backfill"
            )
        steps = plan_steps(
            intervals,
            existing_runs(session, dag_id, start, end),
            reprocess=reprocess_behavior,
            backwards=run_backwards,
        )
        plan = BackfillPlan(
            dag_id,
            start,
            end,
            reprocess_behavior,
            max_active_runs or sdag.max_active_runs,
            run_backwards,
            tuple(steps),
            dry_run=dry_run,
            conf=dict(conf or {}),
        )
        if dry_run:
            return plan
        _refuse_second_backfill(session, dag_id)
        row = Backfill(
            dag_id=dag_id,
            from_date=start,
            to_date=end,
            reprocess_behavior=reprocess_behavior,
            max_active_runs=plan.max_active_runs,
            run_backwards=run_backwards,
            dag_run_conf=dict(conf) if conf else None,
            created_at=pendulum.now("UTC"),
        )
        session.add(row)
        session.flush()
        events.record(
            session,
            "create_backfill",
            dag_id=dag_id,
            extra={
                "backfill_id": row.id,
                "from_date": iso(start),
                "to_date": iso(end),
                "reprocess_behavior": reprocess_behavior,
                "max_active_runs": plan.max_active_runs,
                "run_backwards": run_backwards,
                "runs": len(plan.steps),
            },
        )
        return replace(plan, backfill_id=row.id)


def _utc(value: datetime) -> datetime:
    return pendulum.instance(value).in_tz("UTC") if value.tzinfo else pendulum.instance(value, tz="UTC")


def _refuse_second_backfill(session: Session, dag_id: str) -> None:
    """One backfill per DAG at a time (a paused one counts), as in Airflow 3."""
    other = session.scalar(sa.select(Backfill.id).where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None)))
    if other is not None:
        raise BackfillConflict(
            f"backfill {other} of DAG {dag_id!r} is not completed yet: wait for it or cancel backfill {other} first"
        )


@dataclass(frozen=True)
class BackfillRecord:
    """One backfill as stored; ``status`` is running, paused, completed or cancelled."""

    id: int
    dag_id: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any]
    is_paused: bool
    reprocess_behavior: str
    max_active_runs: int
    run_backwards: bool
    created_at: datetime
    completed_at: datetime | None

    @property
    def status(self) -> str:
        """``cancelled`` (completed while paused), ``completed``, ``paused`` or ``running``."""
        if self.completed_at is not None:
            return "cancelled" if self.is_paused else "completed"
        return "paused" if self.is_paused else "running"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe row (``dags list-backfills``)."""
        return {
            "id": self.id,
            "dag_id": self.dag_id,
            "from_date": iso(self.from_date),
            "to_date": iso(self.to_date),
            "reprocess_behavior": self.reprocess_behavior,
            "max_active_runs": self.max_active_runs,
            "run_backwards": self.run_backwards,
            "status": self.status,
            "created_at": iso(self.created_at),
            "completed_at": iso(self.completed_at),
        }

    @classmethod
    def of(cls, b: Backfill) -> BackfillRecord:
        """From a ``backfill`` row."""
        return cls(
            b.id, b.dag_id, b.from_date, b.to_date, dict(b.dag_run_conf or {}), b.is_paused,
            b.reprocess_behavior, b.max_active_runs, b.run_backwards, b.created_at, b.completed_at,
        )  # fmt: skip


class BackfillConflict(BackfillError, Conflict):
    """The backfill is not in a state for this (completed already, another one not completed)."""


_ORDER = {
    "id": Backfill.id,
    "dag_id": Backfill.dag_id,
    "from_date": Backfill.from_date,
    "to_date": Backfill.to_date,
    "created_at": Backfill.created_at,
    "completed_at": Backfill.completed_at,
}


def query_backfills(
    db: Database, part: Slice, *, dag_id: str | None = None, hidden_dag_ids: frozenset[str] = frozenset()
) -> Page[BackfillRecord]:
    """A page of backfills (of one DAG), by id unless ordered; ``hidden_dag_ids`` left out."""
    ensure_schema(db)
    query = sa.select(Backfill)
    if dag_id is not None:
        query = query.where(Backfill.dag_id == dag_id)
    if hidden_dag_ids:
        query = query.where(Backfill.dag_id.not_in(sorted(hidden_dag_ids)))
    with db.transaction(readonly=True) as session:
        return paged(session, query, part, _ORDER, [Backfill.id], lambda row: BackfillRecord.of(row[0]))


def get_backfill(db: Database, backfill_id: int) -> BackfillRecord:
    """One backfill; ``BackfillNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return BackfillRecord.of(_get(session, backfill_id))


def set_backfill_paused(db: Database, backfill_id: int, *, paused: bool) -> BackfillRecord:
    """Pause (no new runs; its active runs go on) or unpause a backfill that is not completed."""
    ensure_schema(db)
    with db.transaction() as session:
        backfill = _get(session, backfill_id)
        if backfill.completed_at is not None:
            raise BackfillConflict(f"backfill {backfill_id} is already {BackfillRecord.of(backfill).status}")
        backfill.is_paused = paused
        event = "pause_backfill" if paused else "unpause_backfill"
        events.record(session, event, dag_id=backfill.dag_id, extra={"backfill_id": backfill_id})
        session.flush()
        return BackfillRecord.of(backfill)


def list_backfills(db: Database, dag_id: str | None = None) -> list[BackfillRecord]:
    """Backfills (of one DAG, or all), newest first."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        query = sa.select(Backfill).order_by(Backfill.id.desc())
        if dag_id is not None:
            query = query.where(Backfill.dag_id == dag_id)
        return [BackfillRecord.of(b) for b in session.scalars(query)]


@dataclass(frozen=True)
class BackfillProgress:
    """A backfill and its runs by state; ``pending`` intervals get no run yet (``cancelled`` once it is)."""

    backfill: BackfillRecord
    success: int
    failed: int
    running: int
    queued: int
    pending: int
    cancelled: int

    @property
    def done(self) -> int:
        """Runs finished (succeeded or failed)."""
        return self.success + self.failed

    @property
    def total(self) -> int:
        """Runs the backfill makes (cancelled intervals left out)."""
        return self.done + self.running + self.queued + self.pending

    def to_dict(self) -> dict[str, Any]:
        """The backfill's row plus the counts (the CLI's JSON)."""
        counts = {k: getattr(self, k) for k in ("success", "failed", "running", "queued", "pending", "cancelled")}
        return {**self.backfill.to_dict(), **counts, "done": self.done, "total": self.total}


def backfill_progress(db: Database, backfill_id: int) -> BackfillProgress:
    """The backfill and its runs by state: success, failed, running, queued, pending (cancelled)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        backfill = _get(session, backfill_id)
        record = BackfillRecord.of(backfill)
        counts = count_by_state(steps_of(session, backfill, serialized_dag(session, backfill.dag_id)))
    cancelled = counts.pop("pending") if record.status == "cancelled" else 0
    counts.setdefault("pending", 0)
    return BackfillProgress(record, cancelled=cancelled, **counts)


@dataclass(frozen=True)
class CancelledBackfill:
    """A cancelled backfill and how many of its queued runs failed."""

    backfill: BackfillRecord
    queued_runs_failed: int

    def to_dict(self) -> dict[str, Any]:
        """The backfill's row plus ``queued_runs_failed`` (the CLI's JSON)."""
        return {**self.backfill.to_dict(), "queued_runs_failed": self.queued_runs_failed}


def cancel_backfill(db: Database, backfill_id: int) -> CancelledBackfill:
    """Cancel a backfill (Airflow 3): paused and completed at once; its queued runs fail, its running runs finish."""
    ensure_schema(db)
    with db.transaction() as session:
        backfill = _get(session, backfill_id)
        if backfill.completed_at is not None:
            raise BackfillConflict(f"backfill {backfill_id} is already {BackfillRecord.of(backfill).status}")
        backfill.is_paused = True
        queued = session.scalars(
            sa.select(DagRun.id).where(DagRun.backfill_id == backfill_id, DagRun.state == DagRunState.QUEUED)
        )
        now = pendulum.now("UTC")
        failed = sum(
            set_dagrun_state(
                session, pk, to=DagRunState.FAILED, expected=[DagRunState.QUEUED], values={"end_date": now}
            )
            for pk in list(queued)
        )
        backfill.completed_at = now
        events.record(
            session, "cancel_backfill", dag_id=backfill.dag_id, extra={"backfill_id": backfill_id, "failed": failed}
        )
        session.flush()
        return CancelledBackfill(BackfillRecord.of(backfill), failed)


def _get(session: Session, backfill_id: int) -> Backfill:
    backfill = session.get(Backfill, backfill_id)
    if backfill is None:
        raise BackfillNotFound(f"backfill {backfill_id} not found")
    return backfill


def scheduler_running(settings: Settings, db: Database) -> bool:
    """True when a scheduler job has heartbeated recently (it is what carries out backfills)."""
    with db.transaction(readonly=True) as session:
        fresh = fresh_after(settings.scheduler.heartbeat_interval)
        return live_scheduler(session, now=pendulum.now("UTC"), fresh=fresh) is not None


__all__ = [
    "BackfillConflict",
    "BackfillError",
    "BackfillProgress",
    "BackfillRecord",
    "CancelledBackfill",
    "get_backfill",
    "query_backfills",
    "set_backfill_paused",
    "BackfillNotFound",
    "BackfillPlan",
    "backfill_progress",
    "cancel_backfill",
    "create_backfill",
    "list_backfills",
    "scheduler_running",
    "step_row",
]
