"""Read-only views of runs and task instances: the run report (SPEC §3 documents come from its ``to_dict``)."""

from __future__ import annotations

from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import DagRunNotFound
from dagflow.models import SerializedDagModel, TaskInstance
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.serialization import deserialize_dag
from dagflow.services.records import RunRecord, RunStates, TaskInstanceRecord


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC, or None."""
    return None if value is None else pendulum.instance(value).in_tz("UTC").isoformat()


def run_report(session: Session, *, dag_id: str, run_id: str) -> RunStates:
    """A run with all its task instances (``dags test``, ``tasks states-for-dag-run``); ``DagRunNotFound``.

    Task instances in the DAG's topological order, then by map index; those of tasks no
    longer in the DAG (``removed``) come last, by task id.
    """
    run = find_dagrun(session, dag_id=dag_id, run_id=run_id)
    if run is None:
        raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
    query = sa.select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    tis = list(session.scalars(query))
    position = topological_positions(session, run.dag_id)
    tis.sort(key=lambda ti: (position.get(ti.task_id, len(position)), ti.task_id, ti.map_index))
    return RunStates(RunRecord.of(run), tuple(TaskInstanceRecord.of(ti, run.logical_date) for ti in tis))


def topological_positions(session: Session, dag_id: str) -> dict[str, int]:
    """Task id -> its place in the DAG's topological order (empty if the DAG is not stored)."""
    data = session.scalar(sa.select(SerializedDagModel.data).where(SerializedDagModel.dag_id == dag_id))
    if data is None:
        return {}
    return {task_id: n for n, task_id in enumerate(deserialize_dag(data).topological_order())}
