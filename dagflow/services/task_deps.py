""" "Why is it not running?": the reasons a task instance that has not started yet is waiting.

The same checks the scheduler makes, read from the DB: the run and the DAG (paused,
run not running), the trigger rule over the upstream states (``trigger_rules.evaluate``,
the planner's own verdict), a retry or reschedule delay, ``depends_on_past``, the pool's
open slots and the DAG's ``max_active_tasks``. Each reason is ``{"dep", "detail"}``, as
``tasks failed-deps`` prints them; an empty list means it may run now (or already runs).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import TaskInstanceNotFound
from dagflow.models import DagModel, DagRun, Pool, TaskInstance
from dagflow.scheduler.trigger_rules import UpstreamCounts, Verdict, evaluate
from dagflow.serialization import SerializedDag
from dagflow.services.dags import get_serialized_dag
from dagflow.state import NOT_YET_RUNNING, OCCUPYING_SLOT, WAITING, DagRunState, TaskInstanceState

TI = TaskInstanceState


@dataclass(frozen=True)
class DepReason:
    """One unmet dependency: which check, and what it found."""

    dep: str
    detail: str


def _upstream_counts(session: Session, sdag: SerializedDag, ti: TaskInstance) -> tuple[UpstreamCounts, Counter[str]]:
    task = sdag.get_task(ti.task_id)
    upstream = sorted(task.upstream_task_ids)
    states: Counter[str] = Counter()
    rows = session.execute(
        sa.select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == ti.dag_id, TaskInstance.run_id == ti.run_id, TaskInstance.task_id.in_(upstream)
        )
    ).all()
    seen = {task_id for task_id, _ in rows}
    adjusted = []
    for task_id, state in rows:
        value = state if state is not None else TI.NONE
        up = sdag.tasks.get(task_id)
        if up is not None and ((value is TI.FAILED and up.allow_failure) or (value is TI.SKIPPED and up.disabled)):
            value = TI.SUCCESS
        adjusted.append(value)
        states[value.value] += 1
    adjusted += [TI.NONE] * len(set(upstream) - seen)  # an upstream without a task instance yet counts as unfinished
    states["none"] += len(set(upstream) - seen)
    return UpstreamCounts.from_states(adjusted), states


def failed_deps(db: Database, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[DepReason]:
    """Why this task instance is not running (empty: nothing holds it); ``TaskInstanceNotFound`` if missing."""
    sdag = get_serialized_dag(db, dag_id)
    now = pendulum.now("UTC")
    with db.transaction(readonly=True) as session:
        ti = session.scalar(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        )
        if ti is None:
            raise TaskInstanceNotFound(f"no task instance {task_id!r} (map index {map_index}) in run {run_id!r}")
        state = ti.state if ti.state is not None else TI.NONE
        if state not in NOT_YET_RUNNING and state is not TI.QUEUED:
            return []
        reasons = _run_reasons(session, dag_id, run_id)
        if state is TI.QUEUED:
            return reasons + [DepReason("Executor", "queued: waiting for a worker to pick it up")]
        if state in WAITING and ti.next_try_at is not None and ti.next_try_at > now:
            kind = "retry" if state is TI.UP_FOR_RETRY else "reschedule"
            reasons.append(
                DepReason(f"Not In {kind.title()} Period", f"waiting for its {kind} at {_iso(ti.next_try_at)}")
            )
        if sdag.has_task(task_id):
            reasons += _task_reasons(session, sdag, ti)
        return reasons


def _run_reasons(session: Session, dag_id: str, run_id: str) -> list[DepReason]:
    reasons = []
    dag = session.get(DagModel, dag_id)
    if dag is not None and dag.is_paused:
        reasons.append(DepReason("Dag Paused", f"DAG {dag_id!r} is paused: the scheduler starts nothing in it"))
    run = session.scalar(sa.select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
    if run is not None and run.state is not DagRunState.RUNNING:
        reasons.append(DepReason("Dagrun Running", f"the run is {run.state.value}, not running"))
    return reasons


def _task_reasons(session: Session, sdag: SerializedDag, ti: TaskInstance) -> list[DepReason]:
    task = sdag.get_task(ti.task_id)
    reasons = []
    counts, states = _upstream_counts(session, sdag, ti)
    verdict = evaluate(task.trigger_rule, counts)
    if verdict is not Verdict.RUN and task.upstream_task_ids:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        reasons.append(
            DepReason(
                "Trigger Rule", f"trigger rule {task.trigger_rule.value} not met (upstream: {summary}): {verdict.value}"
            )
        )
    if task.depends_on_past:
        reasons.append(DepReason("Previous Dagrun State", "depends_on_past: the previous run's instance must succeed"))
    pool = session.get(Pool, ti.pool)
    if pool is not None and pool.slots >= 0:
        used = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(TaskInstance.pool_slots), 0)).where(
                TaskInstance.pool == ti.pool, TaskInstance.state.in_(list(OCCUPYING_SLOT))
            )
        )
        if int(used or 0) + ti.pool_slots > pool.slots:
            reasons.append(
                DepReason("Pool Slots Available", f"pool {ti.pool!r} has {pool.slots - int(used or 0)} open slots")
            )
    running = session.scalar(
        sa.select(sa.func.count()).where(TaskInstance.dag_id == ti.dag_id, TaskInstance.state.in_(list(OCCUPYING_SLOT)))
    )
    if sdag.max_active_tasks and int(running or 0) >= sdag.max_active_tasks:
        reasons.append(
            DepReason(
                "Dag Concurrency",
                f"{running} task instances of the DAG run or are queued (max_active_tasks {sdag.max_active_tasks})",
            )
        )
    return reasons


def _iso(value: datetime) -> str:
    return pendulum.instance(value).in_tz("UTC").isoformat()
