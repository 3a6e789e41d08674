"""``tasks failed-deps``: why a task instance is not running (Airflow's dependency names).

Each reason is ``{"dep", "detail"}``; an empty list means the scheduler may run it now.
The checks read the DB as the scheduler does (serialized DAG, states, pools), never a DAG file.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import DagRunNotFound, TaskInstanceNotFound
from dagflow.models import DagModel, DagRun, Pool, TaskInstance
from dagflow.models.pool import UNLIMITED_SLOTS
from dagflow.scheduler.planner import upstream_bucket
from dagflow.scheduler.run_lifecycle import past_not_met
from dagflow.scheduler.trigger_rules import UpstreamCounts, Verdict, evaluate
from dagflow.serialization import SerializedDag, SerializedTask
from dagflow.services.dag_runs import serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.services.flow_limits import group_limit_details, switch_detail, switched_tasks
from dagflow.state import FINISHED, OCCUPYING_SLOT, DagRunState, TaskInstanceState

TI = TaskInstanceState
#: States from which the scheduler still moves a task instance towards running.
SCHEDULABLE = (TI.NONE, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE)


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
        reasons = _reasons(session, dag, dag.tasks[task_id], run, ti, now)
        state = ti.state.value if ti.state is not None and ti.state is not TI.NONE else None
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "state": state,
        "reasons": [{"dep": dep, "detail": detail} for dep, detail in reasons],
    }


def _reasons(
    session: Session, dag: SerializedDag, task: SerializedTask, run: DagRun, ti: TaskInstance, now: datetime
) -> list[tuple[str, str]]:
    state = ti.state or TI.NONE
    reasons: list[tuple[str, str]] = []
    if state not in SCHEDULABLE:
        reasons.append(("Task Instance State", f"Task is in the '{state.value}' state."))
    if run.state is not DagRunState.RUNNING:
        detail = f"Task instance's dagrun was not in the 'running' state but in the state '{run.state.value}'."
        reasons.append(("Dagrun Running", detail))
    if session.scalar(sa.select(DagModel.is_paused).where(DagModel.dag_id == dag.dag_id)):
        reasons.append(("Dag Not Paused", f"DAG {dag.dag_id!r} is paused."))
    if state not in SCHEDULABLE:
        return reasons  # the rest only matters for a task instance that still has to run
    if task.disabled:
        reasons.append(("Task Disabled", "The task is disabled: it ends skipped without running."))
    switched = switch_detail(session, run.dag_id, run.run_id, task.task_id)
    if switched is not None:
        reasons.append(("Task Disabled", switched))
    if state is TI.UP_FOR_RETRY and ti.next_try_at is not None and ti.next_try_at > now:
        when = pendulum.instance(ti.next_try_at).in_tz("UTC").isoformat()
        reasons.append(("Not In Retry Period", f"Task is not ready for retry yet but will be retried at {when}."))
    if state is TI.UP_FOR_RESCHEDULE and ti.next_try_at is not None and ti.next_try_at > now:
        when = pendulum.instance(ti.next_try_at).in_tz("UTC").isoformat()
        reasons.append(("Ready To Reschedule", f"Task is not ready for reschedule yet but will be at {when}."))
    if state is TI.NONE:
        reasons += _trigger_rule(session, dag, task, run)
        if task.task_id in past_not_met(session, run, dag):
            detail = "depends_on_past / wait_for_downstream: the previous run's task instance(s) did not succeed."
            reasons.append(("Previous Dagrun State", detail))
    reasons += _slots(session, task, ti)
    reasons += [("Task Group Concurrency", d) for d in group_limit_details(session, dag, task.task_id, run.run_id)]
    return reasons


def _trigger_rule(session: Session, dag: SerializedDag, task: SerializedTask, run: DagRun) -> list[tuple[str, str]]:
    if not task.upstream_task_ids:
        return []
    rows = session.execute(
        sa.select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.task_id.in_(sorted(task.upstream_task_ids)),
        )
    ).all()
    seen = {task_id for task_id, _ in rows}
    buckets: Counter[str] = Counter()
    done = 0
    states = [(tid, s or TI.NONE) for tid, s in rows] + [(tid, TI.NONE) for tid in task.upstream_task_ids - seen]
    switched = switched_tasks(session, run.dag_id, run.run_id)
    for upstream_id, state in states:
        if state in FINISHED:
            done += 1
            off = upstream_id in switched and state is TI.SKIPPED
            buckets["success" if off else upstream_bucket(state, dag.tasks.get(upstream_id))] += 1
    counts = UpstreamCounts(
        success=buckets["success"],
        skipped=buckets["skipped"],
        failed=buckets["failed"],
        upstream_failed=buckets["upstream_failed"],
        removed=buckets["removed"],
        done=done,
        total=len(states),
    )
    verdict = evaluate(task.trigger_rule, counts)
    if verdict is Verdict.RUN:
        return []
    detail = (
        f"Task's trigger rule '{task.trigger_rule}' "
        + ("requires more upstream tasks to finish" if verdict is Verdict.WAIT else f"resolves to '{verdict.value}'")
        + f"; upstream: {counts.success} success, {counts.skipped} skipped, {counts.failed} failed, "
        f"{counts.upstream_failed} upstream_failed, {counts.total - counts.done} not done."
    )
    return [("Trigger Rule", detail)]


def _slots(session: Session, task: SerializedTask, ti: TaskInstance) -> list[tuple[str, str]]:
    reasons: list[tuple[str, str]] = []
    pool = session.get(Pool, ti.pool)
    if pool is None:
        reasons.append(("Pool Slots Available", f"Pool {ti.pool!r} does not exist."))
    elif pool.slots != UNLIMITED_SLOTS:
        used = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(TaskInstance.pool_slots), 0)).where(
                TaskInstance.pool == ti.pool, TaskInstance.state.in_(list(OCCUPYING_SLOT))
            )
        )
        if pool.slots - int(used or 0) < ti.pool_slots:
            detail = f"Not scheduling: pool {ti.pool!r} has {pool.slots - int(used or 0)} open slot(s), needs {ti.pool_slots}."
            reasons.append(("Pool Slots Available", detail))
    if task.max_active_tis_per_dag is not None:
        running = session.scalar(
            sa.select(sa.func.count())
            .select_from(TaskInstance)
            .where(
                TaskInstance.dag_id == ti.dag_id,
                TaskInstance.task_id == ti.task_id,
                TaskInstance.state.in_([TI.RUNNING, TI.QUEUED]),
            )
        )
        if int(running or 0) >= task.max_active_tis_per_dag:
            limit = task.max_active_tis_per_dag
            reasons.append(("Task Concurrency", f"The max task concurrency ({limit}) has been reached."))
    if task.max_active_tis_per_dagrun is not None:
        in_run = session.scalar(
            sa.select(sa.func.count())
            .select_from(TaskInstance)
            .where(
                TaskInstance.dag_id == ti.dag_id,
                TaskInstance.run_id == ti.run_id,
                TaskInstance.task_id == ti.task_id,
                TaskInstance.state.in_([TI.RUNNING, TI.QUEUED]),
            )
        )
        if int(in_run or 0) >= task.max_active_tis_per_dagrun:
            limit = task.max_active_tis_per_dagrun
            reasons.append(
                (
                    "Task Concurrency per Run",
                    f"The max task concurrency per run ({limit}, max_active_tis_per_dagrun) has been reached.",
                )
            )
    return reasons
