"""Read-only views of runs and task instances, as plain JSON-ready dicts (SPEC §3)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import DagRunNotFound
from dagflow.models import DagRun, SerializedDagModel, TaskInstance
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.serialization import deserialize_dag


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC, or None."""
    return None if value is None else pendulum.instance(value).in_tz("UTC").isoformat()


def run_report(session: Session, *, dag_id: str, run_id: str) -> dict[str, Any]:
    """A run with all its task instances: the document of ``dags test`` and
    ``tasks states-for-dag-run``."""
    run = find_dagrun(session, dag_id=dag_id, run_id=run_id)
    if run is None:
        raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
    return {**run_summary(run), "task_instances": task_instance_rows(session, run)}


def run_summary(run: DagRun) -> dict[str, Any]:
    """The run's own fields."""
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state.value,
        "run_type": run.run_type,
        "logical_date": iso(run.logical_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "has_soft_failures": run.has_soft_failures,
        "conf": run.conf or {},
    }


def task_instance_rows(session: Session, run: DagRun) -> list[dict[str, Any]]:
    """The run's task instances in the DAG's topological order, then by map index.

    Task instances of tasks no longer in the DAG (``removed``) come last, by task id.
    """
    query = (
        sa.select(TaskInstance)
        .where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
        .order_by(TaskInstance.task_id, TaskInstance.map_index)
    )
    tis = list(session.scalars(query))
    position = topological_positions(session, run.dag_id)
    tis.sort(key=lambda ti: (position.get(ti.task_id, len(position)), ti.task_id, ti.map_index))
    return [ti_row(ti) for ti in tis]


def topological_positions(session: Session, dag_id: str) -> dict[str, int]:
    """Task id -> its place in the DAG's topological order (empty if the DAG is not stored)."""
    data = session.scalar(sa.select(SerializedDagModel.data).where(SerializedDagModel.dag_id == dag_id))
    if data is None:
        return {}
    return {task_id: n for n, task_id in enumerate(deserialize_dag(data).topological_order())}


def ti_row(ti: TaskInstance) -> dict[str, Any]:
    """One task instance as a dict."""
    return {
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state.value if ti.state is not None else "none",
        "try_number": ti.try_number,
        "max_tries": ti.max_tries,
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "duration": ti.duration,
        "hostname": ti.hostname,
        "note": ti.note,
        "end_reason": ti.end_reason,
        "infra_tries": ti.infra_tries,
        "requeue_count": ti.requeue_count,
    }
