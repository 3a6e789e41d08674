"""Why a task instance is not running: every reason, read from the DB as the scheduler sees it.

One engine behind ``tasks failed-deps`` (``failed_deps``), the API's dependencies endpoint and
the task instance page (``dependencies``). Each reason is ``(dep, detail)`` with Airflow's
dependency names where Airflow has one. In order: what the task instance's own state says
(waiting for a worker since T, deferred on which trigger until T), the run (not running; queued
behind ``max_active_runs``), the DAG paused; then, for a task instance the scheduler still
has to move: disabled or switched off, the retry or reschedule wait, the trigger rule and
``depends_on_past``, and the concurrency limits (``capacity_limits``). Empty: it may run now.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.models import DagModel, DagRun, TaskInstance, Trigger
from dagflow.scheduler.planner import upstream_bucket
from dagflow.scheduler.run_lifecycle import past_not_met
from dagflow.scheduler.trigger_rules import UpstreamCounts, Verdict, evaluate
from dagflow.serialization import SerializedDag, SerializedTask
from dagflow.services.capacity_limits import Found, capacity_reasons
from dagflow.services.flow_limits import switch_detail, switched_tasks
from dagflow.state import FINISHED, DagRunState, TaskInstanceState

TI = TaskInstanceState
#: States from which the scheduler still moves a task instance towards running.
SCHEDULABLE = (TI.NONE, TI.SCHEDULED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE)
#: Longest kwargs summary of a trigger, in characters.
KWARGS_SUMMARY = 200


def reasons_not_running(
    session: Session,
    settings: Settings,
    dag: SerializedDag,
    task: SerializedTask,
    run: DagRun,
    ti: TaskInstance,
    now: datetime,
) -> Found:
    """Every ``(dep, detail)`` holding ``ti`` back; the first one names its state if that blocks it."""
    state = ti.state or TI.NONE
    found = _state(session, ti, state)
    found += _run(session, settings, dag, run)
    if session.scalar(sa.select(DagModel.is_paused).where(DagModel.dag_id == dag.dag_id)):
        found.append(("Dag Not Paused", f"Task's DAG {dag.dag_id!r} is paused."))
    if state not in SCHEDULABLE:
        return found  # the rest only matters for a task instance that still has to run
    if task.disabled:
        found.append(("Task Disabled", "The task is disabled (disabled=True): it ends skipped without running."))
    switched = switch_detail(session, run.dag_id, run.run_id, task.task_id)
    if switched is not None:
        found.append(("Task Disabled", switched))
    found += _waits(ti, state, now)
    if state is TI.NONE:
        found += _trigger_rule(session, dag, task, run)
        if task.task_id in past_not_met(session, run, dag):
            what = "wait_for_downstream" if task.wait_for_downstream else "depends_on_past"
            detail = f"The task has {what}=True and its task instance(s) in the previous run did not all succeed."
            found.append(("Previous Dagrun State", detail))
    return found + capacity_reasons(session, settings, dag, task, ti)


def _iso(when: datetime) -> str:
    return pendulum.instance(when).in_tz("UTC").isoformat()


def _state(session: Session, ti: TaskInstance, state: TaskInstanceState) -> Found:
    if state in SCHEDULABLE:
        return []
    if state is TI.QUEUED:
        since = f" since {_iso(ti.queued_at)}" if ti.queued_at is not None else ""
        detail = f"Task is queued{since} and not yet claimed by a worker (try {ti.try_number or 1})."
        return [("Task Instance State", detail)]
    if state is TI.DEFERRED:
        return [("Task Deferred", _deferred_detail(session, ti))]
    return [("Task Instance State", f"Task is in the '{state.value}' state.")]


def _deferred_detail(session: Session, ti: TaskInstance) -> str:
    trigger = session.get(Trigger, ti.trigger_id) if ti.trigger_id is not None else None
    if trigger is None:
        what = "a trigger that is gone (the scheduler resumes or fails it)"
    else:
        what = f"{trigger.classpath}({_summary(trigger.kwargs)})"
        what += ", run by triggerer job " + str(trigger.triggerer_id) if trigger.triggerer_id else ", not yet picked up"
    until = f"; it times out at {_iso(ti.trigger_timeout)}" if ti.trigger_timeout is not None else "; no timeout"
    resume = f"; it resumes in {ti.next_method}()" if ti.next_method else ""
    return f"Task is deferred on {what}{until}{resume}."


def _summary(kwargs: dict[str, Any]) -> str:
    text = ", ".join(f"{key}={value!r}" for key, value in sorted(kwargs.items()))
    return text if len(text) <= KWARGS_SUMMARY else text[: KWARGS_SUMMARY - 1] + "…"


def _run(session: Session, settings: Settings, dag: SerializedDag, run: DagRun) -> Found:
    if run.state is DagRunState.RUNNING:
        return []
    if run.state is not DagRunState.QUEUED:
        return [("Dagrun Running", f"Task instance's dagrun is not running but '{run.state.value}'.")]
    found = [("Dagrun Running", "Task instance's dagrun is queued: the scheduler starts it when there is room.")]
    stored = session.scalar(sa.select(DagModel.max_active_runs).where(DagModel.dag_id == dag.dag_id))
    limit = stored if stored is not None else settings.core.max_active_runs_per_dag
    running = int(
        session.scalar(
            sa.select(sa.func.count()).where(
                DagRun.dag_id == dag.dag_id, DagRun.state == DagRunState.RUNNING, DagRun.backfill_id.is_(None)
            )
        )
        or 0
    )
    if run.backfill_id is None and running >= limit:
        found.append(
            ("Max Active Runs", f"The DAG's max_active_runs ({limit}) is reached: {running} runs are running.")
        )
    return found


def _waits(ti: TaskInstance, state: TaskInstanceState, now: datetime) -> Found:
    if ti.next_try_at is None or ti.next_try_at <= now:
        return []
    when = _iso(ti.next_try_at)
    if state is TI.UP_FOR_RETRY:
        return [("Not In Retry Period", f"Task is waiting for its retry delay: it will be retried at {when}.")]
    if state is TI.UP_FOR_RESCHEDULE:
        return [("Ready To Reschedule", f"Task (a sensor in reschedule mode) will poke again at {when}.")]
    return []


def _trigger_rule(session: Session, dag: SerializedDag, task: SerializedTask, run: DagRun) -> Found:
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
    states = [(tid, s or TI.NONE) for tid, s in rows] + [(tid, TI.NONE) for tid in task.upstream_task_ids - seen]
    switched = switched_tasks(session, run.dag_id, run.run_id)
    buckets: Counter[str] = Counter()
    for upstream_id, state in states:
        if state in FINISHED:
            off = upstream_id in switched and state is TI.SKIPPED
            buckets["success" if off else upstream_bucket(state, dag.tasks.get(upstream_id))] += 1
    done = sum(1 for _, state in states if state in FINISHED)
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
    rule = str(getattr(task.trigger_rule, "value", task.trigger_rule))
    outcome = "requires more upstream tasks to finish" if verdict is Verdict.WAIT else f"resolves to '{verdict.value}'"
    detail = (
        f"Task's trigger rule '{rule}' {outcome}; upstream: {counts.success} success, {counts.skipped} skipped, "
        f"{counts.failed} failed, {counts.upstream_failed} upstream_failed, {counts.total - counts.done} not done "
        f"(upstream_task_ids={sorted(task.upstream_task_ids)})."
    )
    return [("Trigger Rule", detail)]
