""" "Why is this task instance not running?" for the API's dependencies endpoint and the task instance page.

The reasons are ``why_not_running``'s (the same as ``tasks failed-deps``), as Airflow's
``{name, reason}`` pairs. A task instance that is running or finished gets one reason, its
state; an empty list means nothing holds it back (it is about to be queued).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import TaskInstanceNotFound
from dagflow.models import DagRun, TaskInstance, utcnow
from dagflow.services.dag_runs import serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.services.why_not_running import reasons_not_running
from dagflow.state import FINISHED, TaskInstanceState

#: States where the only thing to say is the state itself.
_DONE_OR_RUNNING = FINISHED | {TaskInstanceState.RUNNING, TaskInstanceState.RESTARTING}


@dataclass(frozen=True)
class Dependency:
    """One unmet condition: Airflow's dependency name and a sentence saying why."""

    name: str
    reason: str


def task_instance_dependencies(
    db: Database, *, dag_id: str, run_id: str, task_id: str, map_index: int = -1, now: datetime | None = None
) -> list[Dependency]:
    """The unmet conditions of one task instance (``TaskInstanceNotFound`` if it does not exist)."""
    ensure_schema(db)
    now = now or utcnow()
    with db.transaction(readonly=True) as session:
        found = session.execute(
            sa.select(TaskInstance, DagRun)
            .join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        ).one_or_none()
        if found is None:
            raise TaskInstanceNotFound(
                f"no task instance {task_id!r} (map index {map_index}) in run {run_id!r} of {dag_id!r}"
            )
        ti, run = found
        if ti.state in _DONE_OR_RUNNING:
            state = ti.state.value if ti.state is not None else "none"
            return [
                Dependency(
                    "Task Instance State",
                    f"Task is in the '{state}' state which is not a valid state for execution. "
                    "The task must be cleared in order to be run.",
                )
            ]
        sdag = serialized_dag(session, dag_id)
        task = sdag.tasks.get(task_id)
        if task is None:
            return [Dependency("Task Instance State", f"Task {task_id!r} is no longer in the DAG.")]
        reasons = reasons_not_running(session, db.settings, sdag, task, run, ti, now)
    return [Dependency(name, reason) for name, reason in reasons]
