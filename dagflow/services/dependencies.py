""" "Why is this task instance not running?": the conditions that hold it back, each with a reason (Airflow's ``dependencies``).

The checks are the scheduler's own (the trigger rule through ``scheduler.trigger_rules``,
``depends_on_past`` through ``scheduler.run_lifecycle.past_not_met``, pool slots, task and
DAG concurrency, the retry wait), read from the DB now; an empty list means nothing holds
it back (it is about to be queued, or it is running). Names are Airflow's dependency names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import TaskInstanceNotFound
from dagflow.models import DagModel, DagRun, Pool, TaskInstance, utcnow
from dagflow.models.pool import UNLIMITED_SLOTS
from dagflow.scheduler.run_lifecycle import past_not_met
from dagflow.scheduler.trigger_rules import UpstreamCounts, Verdict, evaluate
from dagflow.serialization import SerializedDag, SerializedTask
from dagflow.services.dag_runs import serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.services.flow_limits import group_limit_details, switch_detail, switched_tasks
from dagflow.state import DAGRUN_ACTIVE, FINISHED, OCCUPYING_SLOT, STARTED, TaskInstanceState

TI = TaskInstanceState


@dataclass(frozen=True)
class Dependency:
    """One unmet condition: Airflow's dependency name and a sentence saying why."""

    name: str
    reason: str


def task_instance_dependencies(
    db: Database, *, dag_id: str, run_id: str, task_id: str, map_index: int = -1, now: datetime | None = None
) -> list[Dependency]:
    """The unmet conditions of one task instance (``TaskInstanceNotFound`` if it does not exist)."""
    ensure_schema(db)
    now = now or utcnow()
    with db.transaction(readonly=True) as session:
        found = session.execute(
            sa.select(TaskInstance, DagRun)
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
        ti, run = found
        if ti.state in FINISHED or ti.state in STARTED:
            return [_state_dependency(ti.state)]
        sdag = serialized_dag(session, dag_id)
        task = sdag.tasks.get(task_id)
        if task is None:
            return [Dependency("Task Instance State", f"Task {task_id!r} is no longer in the DAG.")]
        return _blockers(session, sdag, task, ti, run, now)


def _state_dependency(state: TaskInstanceState) -> Dependency:
    return Dependency(
        "Task Instance State",
        f"Task is in the '{state.value}' state which is not a valid state for execution. "
        "The task must be cleared in order to be run.",
    )


def _blockers(
    session: Session, sdag: SerializedDag, task: SerializedTask, ti: TaskInstance, run: DagRun, now: datetime
) -> list[Dependency]:
    found: list[Dependency] = []
    dag = session.get(DagModel, sdag.dag_id)
    if dag is not None and dag.is_paused:
        found.append(Dependency("Dag Not Paused", f"Task's DAG '{sdag.dag_id}' is paused."))
    if run.state not in DAGRUN_ACTIVE:
        found.append(
            Dependency(
                "Dagrun Running",
                f"Task instance's dagrun was not in the 'running' state but in the state '{run.state.value}'.",
            )
        )
    if ti.state in (TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE) and ti.next_try_at is not None and ti.next_try_at > now:
        found.append(
            Dependency(
                "Not In Retry Period",
                f"Task is not ready for retry yet but will be retried automatically. Current date is "
                f"{now.isoformat()} and task will be retried at {ti.next_try_at.isoformat()}.",
            )
        )
    if ti.state in (TI.NONE, None):
        switched = switch_detail(session, run.dag_id, run.run_id, task.task_id)
        if switched is not None:
            found.append(Dependency("Task Disabled", switched))
        found += _upstream(session, sdag, task, run)
    found += _capacity(session, sdag, task, ti)
    found += [
        Dependency("Task Group Concurrency", d) for d in group_limit_details(session, sdag, task.task_id, run.run_id)
    ]
    return found


def _upstream(session: Session, sdag: SerializedDag, task: SerializedTask, run: DagRun) -> list[Dependency]:
    found: list[Dependency] = []
    if task.task_id in past_not_met(session, run, sdag):
        what = "wait_for_downstream" if task.wait_for_downstream else "depends_on_past"
        found.append(
            Dependency(
                "Previous Dagrun State",
                f"The task has {what}=True and its task instance(s) in the previous run did not all succeed or skip.",
            )
        )
    if not task.upstream_task_ids:
        return found
    rows = session.execute(
        sa.select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == run.dag_id,
            TaskInstance.run_id == run.run_id,
            TaskInstance.task_id.in_(sorted(task.upstream_task_ids)),
        )
    ).all()
    states: Counter[str] = Counter()
    seen = set()
    n = {"success": 0, "skipped": 0, "failed": 0, "upstream_failed": 0, "removed": 0}
    done = 0
    switched = switched_tasks(session, run.dag_id, run.run_id)
    for upstream_id, found_state in rows:
        state = found_state or TI.NONE
        seen.add(upstream_id)
        states[state.value] += 1
        if state in FINISHED:
            done += 1
            off = upstream_id in switched and state is TI.SKIPPED
            n["success" if off else _bucket(state, sdag.tasks.get(upstream_id))] += 1
    total = len(rows) + len(task.upstream_task_ids - seen)
    verdict = evaluate(task.trigger_rule, UpstreamCounts(done=done, total=total, **n))
    if verdict is Verdict.WAIT:
        rule = str(getattr(task.trigger_rule, "value", task.trigger_rule))
        found.append(
            Dependency(
                "Trigger Rule",
                f"Task's trigger rule '{rule}' is not met yet: {done} of {total} upstream task instance(s) "
                f"finished, upstream_states={dict(sorted(states.items()))}, "
                f"upstream_task_ids={sorted(task.upstream_task_ids)}.",
            )
        )
    return found


def _bucket(state: TaskInstanceState, upstream: SerializedTask | None) -> str:
    """As the planner counts: a failure that is allowed and a disabled task's skip count as success."""
    if state is TI.FAILED and upstream is not None and upstream.allow_failure:
        return "success"
    if state is TI.SKIPPED and upstream is not None and upstream.disabled:
        return "success"
    return state.value


def _capacity(session: Session, sdag: SerializedDag, task: SerializedTask, ti: TaskInstance) -> list[Dependency]:
    found: list[Dependency] = []
    busy = [*OCCUPYING_SLOT]
    pool = session.get(Pool, ti.pool)
    if pool is None:
        found.append(Dependency("Pool Slots Available", f"Task's pool '{ti.pool}' does not exist."))
    elif pool.slots != UNLIMITED_SLOTS:
        used = session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(TaskInstance.pool_slots), 0)).where(
                TaskInstance.pool == ti.pool, TaskInstance.state.in_(busy)
            )
        )
        if pool.slots - int(used or 0) < ti.pool_slots:
            found.append(
                Dependency(
                    "Pool Slots Available",
                    f"Not scheduling since there are {pool.slots - int(used or 0)} open slots in pool "
                    f"'{ti.pool}' and the task needs {ti.pool_slots}.",
                )
            )
    if task.max_active_tis_per_dag:
        active = _count(session, TaskInstance.dag_id == sdag.dag_id, TaskInstance.task_id == task.task_id, busy=busy)
        if active >= task.max_active_tis_per_dag:
            found.append(
                Dependency(
                    "Task Concurrency",
                    f"The max task concurrency has been reached: {active} of {task.max_active_tis_per_dag} "
                    "(max_active_tis_per_dag) task instances of this task are running or queued.",
                )
            )
    found.extend(_per_run_capacity(session, task, ti, busy))
    active = _count(session, TaskInstance.dag_id == sdag.dag_id, busy=busy)
    if active >= sdag.max_active_tasks:
        found.append(
            Dependency(
                "DAG's max_active_tasks",
                f"The DAG's max_active_tasks ({sdag.max_active_tasks}) is reached: {active} task instances "
                "are running or queued.",
            )
        )
    return found


def _per_run_capacity(
    session: Session, task: SerializedTask, ti: TaskInstance, busy: list[TaskInstanceState]
) -> list[Dependency]:
    """``max_active_tis_per_dagrun``: queued + running instances of this task in this run (map indexes included)."""
    limit = task.max_active_tis_per_dagrun
    if not limit:
        return []
    same = (TaskInstance.dag_id == ti.dag_id, TaskInstance.run_id == ti.run_id, TaskInstance.task_id == task.task_id)
    active = _count(session, *same, busy=busy)
    if active < limit:
        return []
    detail = (
        f"The max task concurrency per run has been reached: {active} of {limit} "
        "(max_active_tis_per_dagrun) task instances of this task are running or queued in this run."
    )
    return [Dependency("Task Concurrency per Run", detail)]


def _count(session: Session, *where: sa.ColumnElement[bool], busy: list[TaskInstanceState]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).where(*where, TaskInstance.state.in_(busy))) or 0)
