"""What flow groups and task switches hold back, for the "why is it not running" services.

``failed_deps`` (``tasks failed-deps``) and ``dependencies`` (the API's dependencies
endpoint and the task instance page) both ask here, so they say what the scheduler does:
the ``max_active_tasks`` of the task groups around a task (counted per run at queueing)
and the switches of ``tasks disable`` (read by the planner).
"""

from __future__ import annotations

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import TaskInstance, TaskSwitch
from dagflow.scheduler.run_scheduling import switched_off
from dagflow.serialization import SerializedDag
from dagflow.state import OCCUPYING_SLOT


def group_limit_details(session: Session, dag: SerializedDag, task_id: str, run_id: str) -> list[str]:
    """One sentence per limited task group around ``task_id`` whose limit is reached in run ``run_id``."""
    details: list[str] = []
    for group_id, limit in dag.group_limits(task_id):
        members = sorted(t for t in dag.tasks if any(g == group_id for g, _ in dag.group_limits(t)))
        active = session.scalar(
            sa.select(sa.func.count()).where(
                TaskInstance.dag_id == dag.dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id.in_(members),
                TaskInstance.state.in_(list(OCCUPYING_SLOT)),
            )
        )
        if int(active or 0) >= limit:
            details.append(
                f"The task group {group_id!r} has reached its max_active_tasks ({limit}): "
                f"{int(active or 0)} of its task instances are running or queued in this run."
            )
    return details


def switch_detail(session: Session, dag_id: str, run_id: str, task_id: str) -> str | None:
    """Why the task is switched off in this run (``tasks disable``: why, by whom, since when), or None."""
    switches = switched_off(session, dag_id, run_id)
    if task_id not in switches:
        return None
    reason = switches[task_id]
    suffix = f": {reason}" if reason else ""
    switch = session.scalars(  # the run's own switch first, as the planner reads them
        sa.select(TaskSwitch)
        .where(
            TaskSwitch.dag_id == dag_id,
            TaskSwitch.task_id == task_id,
            sa.or_(TaskSwitch.run_id.is_(None), TaskSwitch.run_id == run_id),
        )
        .order_by(TaskSwitch.run_id.is_(None))
    ).first()
    who = ""
    if switch is not None:
        scope = "for this run" if switch.run_id is not None else "for every run"
        by = f" by {switch.disabled_by}" if switch.disabled_by else ""
        who = f" ({scope}{by} at {pendulum.instance(switch.created_at).in_tz('UTC').isoformat()})"
    return f"The task is disabled (tasks disable){suffix}{who}; it ends skipped without running."


def switched_tasks(session: Session, dag_id: str, run_id: str) -> set[str]:
    """Task ids switched off in this run: their skips count as success downstream."""
    return set(switched_off(session, dag_id, run_id))
