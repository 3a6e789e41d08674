"""Task-instance services: states of a run and of one task instance."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import TaskInstanceNotFound
from dagflow.models import TaskInstance, TaskInstanceHistory
from dagflow.services.reports import iso, run_report


def states_for_dag_run(db: Database, *, dag_id: str, run_id: str) -> dict[str, Any]:
    """The run and all its task instances (SPEC §3 document)."""
    with db.transaction(readonly=True) as session:
        return run_report(session, dag_id=dag_id, run_id=run_id)


def try_history(db: Database, *, dag_id: str, run_id: str, task_id: str | None = None) -> list[dict[str, Any]]:
    """Every ended try of a run's task instances (of one task with ``task_id``) and why it ended."""
    with db.transaction(readonly=True) as session:
        run_report(session, dag_id=dag_id, run_id=run_id)  # DagRunNotFound for a wrong run
        history = TaskInstanceHistory
        query = (
            sa.select(history)
            .where(history.dag_id == dag_id, history.run_id == run_id)
            .order_by(history.task_id, history.map_index, history.try_number, history.id)
        )
        if task_id is not None:
            query = query.where(history.task_id == task_id)
        return [
            {
                "task_id": h.task_id,
                "map_index": h.map_index,
                "try_number": h.try_number,
                "state": h.state.value if h.state is not None else "none",
                "start_date": iso(h.start_date),
                "end_date": iso(h.end_date),
                "duration": h.duration,
                "hostname": h.hostname,
                "pid": h.pid,
                "reason": h.reason,
            }
            for h in session.scalars(query)
        ]


def task_instance_state(db: Database, *, dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """One task instance's state name."""
    with db.transaction(readonly=True) as session:
        state = session.scalar(
            sa.select(TaskInstance.state).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        )
    if state is None:
        raise TaskInstanceNotFound(
            f"no task instance {task_id!r} (map index {map_index}) in run {run_id!r} of {dag_id!r}"
        )
    return state.value
