"""``tasks failed-deps``: why a task instance is not running (Airflow's dependency names).

Each reason is ``{"dep", "detail"}``; an empty list means the scheduler may run it now. The
reasons come from ``why_not_running``, which reads the DB as the scheduler does (serialized
DAG, states, pools, limits), never a DAG file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import DagRunNotFound, TaskInstanceNotFound
from dagflow.models import DagRun, TaskInstance
from dagflow.services.dag_runs import serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.services.why_not_running import reasons_not_running
from dagflow.state import TaskInstanceState


def failed_deps(
    db: Database, dag_id: str, task_id: str, run_id: str, *, map_index: int = -1, now: datetime | None = None
) -> dict[str, Any]:
    """``{"dag_id","run_id","task_id","map_index","state","reasons":[{"dep","detail"}]}``."""
    ensure_schema(db)
    now = now or pendulum.now("UTC")
    with db.transaction(readonly=True) as session:
        dag = serialized_dag(session, dag_id)
        run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)).first()
        if run is None:
            raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
        ti = session.scalars(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        ).first()
        if ti is None or task_id not in dag.tasks:
            raise TaskInstanceNotFound(f"no task instance {task_id!r} (map index {map_index}) in run {run_id!r}")
        reasons = reasons_not_running(session, db.settings, dag, dag.tasks[task_id], run, ti, now)
        state = ti.state.value if ti.state is not None and ti.state is not TaskInstanceState.NONE else None
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "state": state,
        "reasons": [{"dep": dep, "detail": detail} for dep, detail in reasons],
    }
