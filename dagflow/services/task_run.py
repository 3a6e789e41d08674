"""``dagflow tasks run``: one try of a task instance of an existing run, here, through the real task runner.

Unlike ``tasks test`` the try counts: it is claimed, logged and recorded like any
other (its retries apply), and the scheduler sees its outcome. Its dependencies are
checked first (``tasks failed-deps``): ``ignore_task_deps`` skips the task's own
(trigger rule, ``depends_on_past``, retry and reschedule waits), ``ignore_all_deps``
every one but a try already queued or running, and ``force`` runs a finished task
instance again (it is cleared first, as ``tasks clear`` would).
"""

from __future__ import annotations

from typing import Any

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import Conflict
from dagflow.execution.logs import read_log
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import workload_for
from dagflow.models import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.services.failed_deps import failed_deps
from dagflow.state import FINISHED, TaskInstanceState

TI = TaskInstanceState
#: Dependencies of the task itself (``--ignore-dependencies``).
TASK_DEPS = frozenset({"Trigger Rule", "Previous Dagrun State", "Not In Retry Period", "Ready To Reschedule"})
#: Limits of the scheduler's executor: a try run here does not take one of its slots.
EXECUTOR_DEPS = frozenset({"Executor Slots Available"})
#: Never ignored: another try holds the task instance.
IN_FLIGHT = (TI.QUEUED, TI.RUNNING, TI.RESTARTING, TI.DEFERRED)


class DependenciesNotMet(Conflict):
    """The task instance may not run now (the reasons are in the message)."""


def run_task_instance(
    settings: Settings,
    db: Database,
    dag_id: str,
    task_id: str,
    run_id: str,
    *,
    map_index: int = -1,
    ignore_all_deps: bool = False,
    ignore_task_deps: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Check the dependencies, queue the next try and run it in this process; how it ended, with its log."""
    deps = failed_deps(db, dag_id, task_id, run_id, map_index=map_index)
    state = TI(deps["state"]) if deps["state"] else TI.NONE
    if state in IN_FLIGHT:
        raise DependenciesNotMet(f"{task_id} of {run_id} is {state.value}: another try holds it")
    blocking = [r for r in deps["reasons"] if not _ignored(r["dep"], state, ignore_all_deps, ignore_task_deps, force)]
    if blocking:
        listed = "; ".join(f"{r['dep']}: {r['detail']}" for r in blocking)
        raise DependenciesNotMet(f"dependencies not met for {task_id} in {run_id}: {listed}")
    workload = _queue(db, dag_id, task_id, run_id, map_index, state)
    outcome = run_workload(workload, settings, db=db)
    log = read_log(
        settings, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, try_number=workload.try_number
    )
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": map_index,
        "state": outcome.state.value if outcome.state is not None else None,
        "try_number": outcome.try_number,
        "reason": outcome.reason,
        "log": log,
    }


def _ignored(dep: str, state: TaskInstanceState, ignore_all: bool, ignore_task: bool, force: bool) -> bool:
    if dep == "Task Instance State":
        return force and state in FINISHED
    return ignore_all or dep in EXECUTOR_DEPS or (ignore_task and dep in TASK_DEPS)


def _queue(db: Database, dag_id: str, task_id: str, run_id: str, map_index: int, state: TaskInstanceState) -> Any:
    """Move the task instance to ``queued`` (through ``none`` and ``scheduled``, as the scheduler would)."""
    with db.transaction() as session:
        ti = session.scalars(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        ).one()
        steps = {TI.SCHEDULED: [], TI.NONE: [TI.SCHEDULED], TI.UP_FOR_RETRY: [TI.SCHEDULED]}
        steps[TI.UP_FOR_RESCHEDULE] = [TI.SCHEDULED]
        path = steps.get(state, [TI.NONE, TI.SCHEDULED])  # finished: cleared first
        current = state
        for step in [*path, TI.QUEUED]:
            values = {"queued_at": pendulum.now("UTC")} if step is TI.QUEUED else None
            if not set_ti_state(session, [ti.id], to=step, expected=[current], values=values):
                raise DependenciesNotMet(f"{task_id} of {run_id} changed state meanwhile; try again")
            current = step
        session.refresh(ti)
        return workload_for(ti, ti_id=ti.id)
