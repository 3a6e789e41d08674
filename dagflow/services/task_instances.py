"""Task-instance services: states of a run and of one task instance."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import TaskInstanceNotFound
from dagflow.models import TaskInstance
from dagflow.services.reports import run_report


def states_for_dag_run(db: Database, *, dag_id: str, run_id: str) -> dict[str, Any]:
    """The run and all its task instances (SPEC §3 document)."""
    with db.transaction(readonly=True) as session:
        return run_report(session, dag_id=dag_id, run_id=run_id)


def task_instance_state(db: Database, *, dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """One task instance's state name."""
    with db.transaction(readonly=True) as session:
        state = session.scalar(sa.select(TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id,
            TaskInstance.task_id == task_id, TaskInstance.map_index == map_index,
        ))
    if state is None:
        raise TaskInstanceNotFound(f"no task instance {task_id!r} (map index {map_index}) in run {run_id!r} of {dag_id!r}")
    return state.value
