"""Per-run task switches: disable a task for one run or for every run to come, without editing code.

``tasks disable`` / ``tasks enable`` (CLI and API) go through here. A switch is recorded with
who (``services.actor``) and why, and as an audit event (``disable_task`` / ``enable_task``).
The scheduler reads the switches of each run it plans (``scheduler.run_scheduling``): a task
instance of a switched-off task that has not started yet ends ``skipped`` with the note
``"disabled: REASON"`` and counts as a success downstream, like ``disabled=True`` in code.
Task instances already running or finished are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import DagRunNotFound, InvalidInput, NotFound, TaskNotFound
from dagflow.models import DagRun, TaskSwitch, plan_marker, utcnow
from dagflow.services import events
from dagflow.services.actor import current_actor
from dagflow.services.dag_runs import serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.services.reports import iso

#: Longest reason kept.
REASON_LEN = 2000


class TaskSwitchNotFound(NotFound):
    """``tasks enable`` names a task that is not disabled (for that run, or for every run)."""


@dataclass(frozen=True)
class TaskSwitchRecord:
    """One disabled task, as the CLI and the API show it."""

    dag_id: str
    task_id: str
    run_id: str | None
    reason: str | None
    disabled_by: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe fields; ``run_id`` None means every run to come."""
        return {
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "run_id": self.run_id,
            "reason": self.reason,
            "disabled_by": self.disabled_by,
            "created_at": iso(self.created_at),
        }


def _record(row: TaskSwitch) -> TaskSwitchRecord:
    return TaskSwitchRecord(row.dag_id, row.task_id, row.run_id, row.reason, row.disabled_by, row.created_at)


def _match(dag_id: str, task_id: str, run_id: str | None) -> Any:
    run_clause = TaskSwitch.run_id.is_(None) if run_id is None else TaskSwitch.run_id == run_id
    return sa.and_(TaskSwitch.dag_id == dag_id, TaskSwitch.task_id == task_id, run_clause)


def _check_target(session: Session, dag_id: str, task_id: str, run_id: str | None) -> None:
    dag = serialized_dag(session, dag_id)
    if task_id not in dag.tasks:
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r}")
    if run_id is not None:
        found = session.scalar(sa.select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if found is None:
            raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")


def disable_task(
    db: Database, dag_id: str, task_id: str, *, run_id: str | None = None, reason: str | None = None
) -> TaskSwitchRecord:
    """Disable ``task_id`` for run ``run_id``, or for every run to come when it is None (idempotent)."""
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > REASON_LEN:
        raise InvalidInput(f"the reason is longer than {REASON_LEN} characters")
    ensure_schema(db)
    with db.transaction() as session:
        _check_target(session, dag_id, task_id, run_id)
        session.execute(sa.delete(TaskSwitch).where(_match(dag_id, task_id, run_id)))
        row = TaskSwitch(
            dag_id=dag_id,
            task_id=task_id,
            run_id=run_id,
            reason=reason,
            disabled_by=current_actor(),
            created_at=utcnow(),
        )
        session.add(row)
        plan_marker.bump(session)  # schedulers keep the switches they read while the marker stays
        events.record(
            session,
            "disable_task",
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            extra={"reason": reason, "scope": "run" if run_id else "all future runs"},
        )
        session.flush()
        return _record(row)


def enable_task(db: Database, dag_id: str, task_id: str, *, run_id: str | None = None) -> TaskSwitchRecord:
    """Undo ``disable_task`` with the same ``run_id``; ``TaskSwitchNotFound`` if there is nothing to undo."""
    ensure_schema(db)
    with db.transaction() as session:
        row = session.scalar(sa.select(TaskSwitch).where(_match(dag_id, task_id, run_id)))
        if row is None:
            scope = f"in run {run_id!r}" if run_id else "for all future runs"
            raise TaskSwitchNotFound(f"task {task_id!r} of DAG {dag_id!r} is not disabled {scope}")
        record = _record(row)
        session.execute(sa.delete(TaskSwitch).where(_match(dag_id, task_id, run_id)))
        plan_marker.bump(session)
        events.record(session, "enable_task", dag_id=dag_id, run_id=run_id, task_id=task_id)
        return record


def list_switches(db: Database, dag_id: str | None = None) -> list[TaskSwitchRecord]:
    """Every disabled task (of ``dag_id`` if given), oldest first."""
    ensure_schema(db)
    query = sa.select(TaskSwitch).order_by(TaskSwitch.id)
    if dag_id is not None:
        query = query.where(TaskSwitch.dag_id == dag_id)
    with db.transaction(readonly=True) as session:
        return [_record(row) for row in session.scalars(query)]
