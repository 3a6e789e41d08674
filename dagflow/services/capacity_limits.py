"""The concurrency limits that hold a task instance back, counted as the scheduler counts them.

Used by ``why_not_running``: pools (``pool_slots`` of queued + running task instances, plus
deferred ones in pools with ``include_deferred``), the executor's capacity (``core.parallelism``;
the LocalExecutor takes as many again waiting for a worker), the DAG's ``max_active_tasks``,
the task's ``max_active_tis_per_dag`` (across runs) and ``max_active_tis_per_dagrun`` (in this
run), and the ``max_active_tasks`` of the task groups around it (``flow_limits``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.models import DagModel, Pool, TaskInstance
from dagflow.models.pool import UNLIMITED_SLOTS
from dagflow.serialization import SerializedDag, SerializedTask
from dagflow.services.flow_limits import group_limit_details
from dagflow.state import OCCUPYING_SLOT, TaskInstanceState

TI = TaskInstanceState
#: Reason name and sentence.
Found = list[tuple[str, str]]


def capacity_reasons(
    session: Session, settings: Settings, dag: SerializedDag, task: SerializedTask, ti: TaskInstance
) -> Found:
    """Every reached limit that would keep ``ti`` from being queued now."""
    found = _pool(session, ti) + _executor(session, settings) + _dag_limit(session, settings, dag)
    found += _task_limits(session, task, ti)
    found += [("Task Group Concurrency", d) for d in group_limit_details(session, dag, task.task_id, ti.run_id)]
    return found


def _busy(*where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(sa.func.count()).where(*where, TaskInstance.state.in_(list(OCCUPYING_SLOT)))


def _pool(session: Session, ti: TaskInstance) -> Found:
    pool = session.get(Pool, ti.pool)
    if pool is None:
        return [("Pool Slots Available", f"Task's pool {ti.pool!r} does not exist; it waits until it is created.")]
    if pool.slots == UNLIMITED_SLOTS:
        return []
    states = [*OCCUPYING_SLOT, *([TI.DEFERRED] if pool.include_deferred else [])]
    used = int(
        session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(TaskInstance.pool_slots), 0)).where(
                TaskInstance.pool == ti.pool, TaskInstance.state.in_(states)
            )
        )
        or 0
    )
    if pool.slots - used >= ti.pool_slots:
        return []
    return [
        (
            "Pool Slots Available",
            f"Pool {ti.pool!r} is full: {used} of its {pool.slots} slots are in use "
            f"and the task needs {ti.pool_slots}.",
        )
    ]


def _executor(session: Session, settings: Settings) -> Found:
    """``core.parallelism`` against every queued + running task instance (what the executors hold)."""
    parallelism = settings.core.parallelism
    local = settings.core.executor == "LocalExecutor"
    capacity = 2 * parallelism if local else parallelism
    running = int(session.scalar(_busy(TaskInstance.state == TI.RUNNING)) or 0)
    queued = int(session.scalar(_busy(TaskInstance.state == TI.QUEUED)) or 0)
    if running + queued < capacity:
        return []
    how = (
        f"the LocalExecutor takes {capacity}: {parallelism} running (core.parallelism) and as many waiting"
        if local
        else f"core.parallelism is {parallelism}"
    )
    detail = f"The executor is full: {running} task instances running and {queued} queued; {how}."
    return [("Executor Slots Available", detail)]


def _dag_limit(session: Session, settings: Settings, dag: SerializedDag) -> Found:
    stored = session.scalar(sa.select(DagModel.max_active_tasks).where(DagModel.dag_id == dag.dag_id))
    limit = stored if stored is not None else settings.core.max_active_tasks_per_dag
    active = int(session.scalar(_busy(TaskInstance.dag_id == dag.dag_id)) or 0)
    if active < limit:
        return []
    detail = f"The DAG's max_active_tasks ({limit}) is reached: {active} task instances are running or queued."
    return [("DAG's max_active_tasks", detail)]


def _task_limits(session: Session, task: SerializedTask, ti: TaskInstance) -> Found:
    found: Found = []
    per_dag = task.max_active_tis_per_dag
    if per_dag is not None:
        active = int(session.scalar(_busy(TaskInstance.dag_id == ti.dag_id, TaskInstance.task_id == ti.task_id)) or 0)
        if active >= per_dag:
            found.append(
                (
                    "Task Concurrency",
                    f"The max task concurrency has been reached: {active} of {per_dag} (max_active_tis_per_dag) "
                    "task instances of this task are running or queued across its runs.",
                )
            )
    per_run = task.max_active_tis_per_dagrun
    if per_run is not None:
        where = (TaskInstance.dag_id == ti.dag_id, TaskInstance.run_id == ti.run_id, TaskInstance.task_id == ti.task_id)
        active = int(session.scalar(_busy(*where)) or 0)
        if active >= per_run:
            found.append(
                (
                    "Task Concurrency Per Run",
                    f"The max task concurrency per run has been reached: {active} of {per_run} "
                    "(max_active_tis_per_dagrun) task instances of this task are running or queued in this run.",
                )
            )
    return found
