"""Creating DAG runs with their task instances, and the run-id conventions.

Used by manual triggers, ``dags test``, the scheduler's timetable runs and backfills,
so every run starts the same way: one ``dag_run`` row and one ``task_instance`` row
(state ``none``, map index -1) per task of the serialized DAG.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import DagRunAlreadyExists
from dagflow.models import DagRun, TaskInstance, plan_marker
from dagflow.sdk.ids import check_run_id
from dagflow.serialization.objects import SerializedDag, SerializedTask
from dagflow.state import DagRunState, DagRunTriggeredByType, DagRunType


def generate_run_id(run_type: DagRunType, logical_date: datetime) -> str:
    """Airflow's run id: ``<type>__<logical date ISO-8601>``."""
    return f"{run_type.value}__{pendulum.instance(logical_date).in_tz('UTC').isoformat()}"


def create_dagrun(
    session: Session,
    *,
    dag: SerializedDag,
    run_id: str,
    run_type: DagRunType,
    logical_date: datetime,
    data_interval: tuple[datetime, datetime] | None,
    conf: Mapping[str, Any] | None = None,
    state: DagRunState = DagRunState.QUEUED,
    external_trigger: bool = False,
    backfill_id: int | None = None,
    triggered_by: DagRunTriggeredByType | None = None,
    now: datetime,
) -> DagRun:
    """Insert a DAG run and one task instance per task; refuse a bad or duplicate run id."""
    check_run_id(run_id)
    if find_dagrun(session, dag_id=dag.dag_id, run_id=run_id) is not None:
        raise DagRunAlreadyExists(f"DAG run {run_id!r} of {dag.dag_id!r} exists already")
    clash = find_dagrun_at(session, dag_id=dag.dag_id, logical_date=logical_date)
    if clash is not None:
        raise DagRunAlreadyExists(
            f"DAG {dag.dag_id!r} already has run {clash.run_id!r} at logical date "
            f"{pendulum.instance(logical_date).isoformat()}"
        )
    run = DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=logical_date,
        run_type=run_type.value,
        state=state,
        queued_at=now,
        data_interval_start=data_interval[0] if data_interval else None,
        data_interval_end=data_interval[1] if data_interval else None,
        conf=dict(conf or {}),
        external_trigger=external_trigger,
        backfill_id=backfill_id,
        triggered_by=triggered_by.value if triggered_by is not None else None,
    )
    session.add(run)
    session.flush()
    session.add_all(new_task_instance(dag, task, run_id=run_id) for task in dag.tasks.values())
    session.flush()
    return run


def new_task_instance(dag: SerializedDag, task: SerializedTask, *, run_id: str, map_index: int = -1) -> TaskInstance:
    """A task instance row in state ``none`` with the task's scheduling attributes."""
    return TaskInstance(**task_instance_values(dag, task, run_id=run_id, map_index=map_index))


def task_instance_values(
    dag: SerializedDag, task: SerializedTask, *, run_id: str, map_index: int = -1
) -> dict[str, Any]:
    """The column values of ``new_task_instance`` (for a bulk insert of many runs' task instances)."""
    return {
        "dag_id": dag.dag_id,
        "run_id": run_id,
        "task_id": task.task_id,
        "map_index": map_index,
        "max_tries": task.retries,
        "pool": task.pool,
        "pool_slots": task.pool_slots,
        "queue": task.queue,
        "priority_weight": dag.priority_weight_total(task.task_id),
        "priority_tier": dag.priority_tier(task.task_id),
        "operator": task.task_type,
    }


def find_dagrun(session: Session, *, dag_id: str, run_id: str) -> DagRun | None:
    """The DAG run with that id, or None."""
    return session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))


def find_dagrun_at(session: Session, *, dag_id: str, logical_date: datetime) -> DagRun | None:
    """The DAG run at that logical date, or None (one per date, as in Airflow 2)."""
    return session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date))


def delete_dagrun(session: Session, *, dag_id: str, run_id: str) -> bool:
    """Delete a run with its task instances, XComs and history; True if it existed."""
    return delete_run(session, find_dagrun(session, dag_id=dag_id, run_id=run_id))


def delete_run(session: Session, run: DagRun | None) -> bool:
    """Delete ``run`` (if any) with everything that hangs off it; True if it existed."""
    if run is None:
        return False
    plan_marker.bump(session)  # a plan of the run, or of its task instances, is stale
    session.delete(run)
    session.flush()
    return True
