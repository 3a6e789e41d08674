"""Task-instance services: states of a run and of one task instance, lists, tries and notes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import DagNotFound, DagRunNotFound, TaskInstanceNotFound
from dagflow.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import Page, RunStates, TaskInstanceRecord, TryRecord
from dagflow.services.reports import run_report, topological_positions
from dagflow.state import TaskInstanceState


def states_for_dag_run(db: Database, *, dag_id: str, run_id: str) -> RunStates:
    """The run and all its task instances (``to_dict`` is the SPEC §3 document)."""
    with db.transaction(readonly=True) as session:
        return run_report(session, dag_id=dag_id, run_id=run_id)


def try_history(db: Database, *, dag_id: str, run_id: str, task_id: str | None = None) -> list[TryRecord]:
    """Every ended try of a run's task instances (of one task with ``task_id``) and why it ended.

    In the DAG's topological order, then by map index and try; ``DagRunNotFound`` for a wrong run.
    """
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        if find_dagrun(session, dag_id=dag_id, run_id=run_id) is None:
            raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
        position = topological_positions(session, dag_id)
        history = TaskInstanceHistory
        query = (
            sa.select(history)
            .where(history.dag_id == dag_id, history.run_id == run_id)
            .order_by(history.task_id, history.map_index, history.try_number, history.id)
        )
        if task_id is not None:
            query = query.where(history.task_id == task_id)
        rows = sorted(session.scalars(query), key=lambda h: (position.get(h.task_id, len(position)), h.task_id))
        return [TryRecord.of(h) for h in rows]


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


# --- typed reads and edits for the REST API and the UI --------------------------------------
@dataclass(frozen=True)
class TaskInstanceFilter:
    """Which task instances to list (Airflow's ``GET .../taskInstances`` filters); None: any."""

    dag_id: str | None = None
    run_id: str | None = None
    task_ids: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    map_index: int | None = None
    pools: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    logical_date_gte: datetime | None = None
    logical_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None
    #: Only task instances of these DAGs (None: any DAG); the web UI's tag filter resolves tags to ids.
    dag_ids: tuple[str, ...] | None = None
    #: DAGs to leave out (their ``access_control`` hides them from the caller).
    hidden_dag_ids: frozenset[str] = frozenset()


_TI_ORDER = {
    "id": TaskInstance.id,
    "task_id": TaskInstance.task_id,
    "map_index": TaskInstance.map_index,
    "dag_id": TaskInstance.dag_id,
    "run_id": TaskInstance.run_id,
    "dag_run_id": TaskInstance.run_id,
    "state": TaskInstance.state,
    "start_date": TaskInstance.start_date,
    "end_date": TaskInstance.end_date,
    "duration": TaskInstance.duration,
    "try_number": TaskInstance.try_number,
    "pool": TaskInstance.pool,
    "queue": TaskInstance.queue,
    "priority_weight": TaskInstance.priority_weight,
    "logical_date": DagRun.logical_date,
    "run_after": DagRun.logical_date,
}
_TI_RANGES = (
    ("logical_date", DagRun.logical_date),
    ("start_date", TaskInstance.start_date),
    ("end_date", TaskInstance.end_date),
    ("duration", TaskInstance.duration),
)


def query_task_instances(db: Database, flt: TaskInstanceFilter, part: Slice) -> Page[TaskInstanceRecord]:
    """A page of task instances (of one run, one DAG, or all), by task id and map index unless ordered."""
    ensure_schema(db)
    query = sa.select(TaskInstance, DagRun.logical_date).join(
        DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id)
    )
    if flt.dag_id is not None:
        query = query.where(TaskInstance.dag_id == flt.dag_id)
    if flt.run_id is not None:
        query = query.where(TaskInstance.run_id == flt.run_id)
    if flt.dag_ids is not None:
        query = query.where(TaskInstance.dag_id.in_(flt.dag_ids))
    if flt.task_ids:
        query = query.where(TaskInstance.task_id.in_(flt.task_ids))
    if flt.map_index is not None:
        query = query.where(TaskInstance.map_index == flt.map_index)
    if flt.pools:
        query = query.where(TaskInstance.pool.in_(flt.pools))
    if flt.queues:
        query = query.where(TaskInstance.queue.in_(flt.queues))
    if flt.states:
        query = query.where(_state_condition(flt.states))
    if flt.hidden_dag_ids:
        query = query.where(TaskInstance.dag_id.not_in(sorted(flt.hidden_dag_ids)))
    for name, column in _TI_RANGES:
        low, high = getattr(flt, f"{name}_gte"), getattr(flt, f"{name}_lte")
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column <= high)
    default = [TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index]
    with db.transaction(readonly=True) as session:
        _check_parents(session, flt.dag_id, flt.run_id)
        return paged(session, query, part, _TI_ORDER, default, lambda row: TaskInstanceRecord.of(row[0], row[1]))


def _state_condition(states: tuple[str, ...]) -> sa.ColumnElement[bool]:
    named = [TaskInstanceState(s) for s in states if s not in ("none", "no_status")]
    condition: sa.ColumnElement[bool] = TaskInstance.state.in_(named)
    if len(named) < len(states):
        condition = sa.or_(condition, TaskInstance.state.is_(None))
    return condition


def _check_parents(session: Session, dag_id: str | None, run_id: str | None) -> None:
    if dag_id is not None and session.get(DagModel, dag_id) is None:
        raise DagNotFound(f"DAG {dag_id!r} not found")
    if dag_id is not None and run_id is not None and find_dagrun(session, dag_id=dag_id, run_id=run_id) is None:
        raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")


def _ti(session: Session, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[TaskInstance, Any]:
    found = session.execute(
        sa.select(TaskInstance, DagRun.logical_date)
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
    return found[0], found[1]


def get_task_instance(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TaskInstanceRecord:
    """One task instance; ``TaskInstanceNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return TaskInstanceRecord.of(*_ti(session, dag_id, run_id, task_id, map_index))


def task_instance_tries(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[TryRecord]:
    """Every try of a task instance, ended ones from the history and then the current one."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        ti, _ = _ti(session, dag_id, run_id, task_id, map_index)
        rows = session.scalars(
            sa.select(TaskInstanceHistory)
            .where(TaskInstanceHistory.ti_id == ti.id)
            .order_by(TaskInstanceHistory.try_number, TaskInstanceHistory.id)
        )
        tries = {h.try_number: TryRecord.of(h) for h in rows}
        if ti.try_number >= 1 and (ti.try_number not in tries or not ti.is_finished):
            state = None if ti.state is None or ti.state is TaskInstanceState.NONE else ti.state.value
            tries[ti.try_number] = TryRecord(
                ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, state,
                ti.start_date, ti.end_date, ti.duration, ti.hostname, ti.pid, ti.end_reason,
            )  # fmt: skip
        return [tries[n] for n in sorted(tries)]


def set_task_instance_note(
    db: Database, dag_id: str, run_id: str, task_id: str, note: str | None, map_index: int = -1
) -> TaskInstanceRecord:
    """Replace a task instance's note (None clears it)."""
    ensure_schema(db)
    with db.transaction() as session:
        ti, logical_date = _ti(session, dag_id, run_id, task_id, map_index)
        ti.note = note
        events.record(
            session, "set_task_instance_note", dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index
        )
        session.flush()
        return TaskInstanceRecord.of(ti, logical_date)
