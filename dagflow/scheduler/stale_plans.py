"""Does a plan read outside the write transaction still hold? The checks compare-and-set cannot make.

A tick on SQLite reads and plans its runs in a read transaction and writes the plans in a
later, short write transaction (``tick.py``). Every task-instance move is a
compare-and-set from the state the planner saw, so a row that changed in between is
left alone. What such a CAS cannot see is a decision drawn from rows it does not write:

- finishing a run reads every task instance of it: one cleared or marked in between
  (``success -> none``) must keep the run running;
- scheduling, skipping or failing a task reads its upstream task instances: a clear of
  the upstream that left the downstream alone (a ``none`` row is not written by a clear)
  must not let the downstream run before the upstream's new try;
- the run itself may have been marked or deleted.

Forward moves in between (a worker finishing a try, the triggerer resuming one) never
invalidate a plan: they only make it cautious, and the next tick catches up. So a plan
is stale when the run is no longer running, when a run it finishes differs in any row,
or when an upstream task instance it relied on in a finished state is no longer in that
state. A stale plan is not applied at all; the next tick plans the run again.

The writes that can make a plan stale change the plan marker (``models/plan_marker.py``);
``tick.apply_planned_runs`` runs these checks only when the marker read in the write
differs from the one read before the plans' reads (a chain's tick reads nothing here).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.planner import RunPlan
from dagflow.serialization.objects import SerializedDag
from dagflow.state import FINISHED, DagRunState, TaskInstanceState

Key = tuple[str, int]


def still_running(session: Session, run_pks: Iterable[int]) -> set[int]:
    """Which of these runs are running now (one query)."""
    wanted = sorted(set(run_pks))
    if not wanted:
        return set()
    query = sa.select(DagRun.id).where(DagRun.id.in_(wanted), DagRun.state == DagRunState.RUNNING)
    return set(session.scalars(query))


def plan_is_stale(session: Session, run: DagRun, dag: SerializedDag, plan: RunPlan, rows: Mapping[Key, Any]) -> bool:
    """True if a write since the plan's read could make it wrong (module docstring).

    ``rows``: ``(task_id, map_index) -> row`` with the ``id`` and ``state`` the planner saw.
    Reads the whole run only for a plan that finishes it, else only the rows of the
    upstream tasks of what the plan decides (one row for a chain or a fan-out's root).
    """
    if plan.run_state is not None:
        return _states_now(session, run, None) != {row.id: row.state for row in rows.values()}
    upstream = _upstream_of_decided(dag, plan)
    if not upstream:  # nothing decided, or only root tasks: no walk over a big run's rows
        return False
    relied = {row.id: row.state for key, row in rows.items() if key[0] in upstream and row.state in FINISHED}
    if not relied:
        return False
    now = _states_now(session, run, upstream)
    return any(now.get(ti_id) != state for ti_id, state in relied.items())


def _upstream_of_decided(dag: SerializedDag, plan: RunPlan) -> set[str]:
    """Task ids upstream of every task the plan schedules, skips, fails or expands."""
    decided = {key[0] for key in (*plan.schedule, *plan.skip, *plan.upstream_fail)} | set(plan.expand)
    upstream: set[str] = set()
    for task_id in decided:
        task = dag.tasks.get(task_id)
        if task is not None:
            upstream |= task.upstream_task_ids
    return upstream


def _states_now(session: Session, run: DagRun, task_ids: Collection[str] | None) -> dict[int, TaskInstanceState]:
    """``id -> state`` of the run's task instances (of ``task_ids`` only, if given), as committed now."""
    query = sa.select(TaskInstance.id, TaskInstance.state).where(
        TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
    )
    if task_ids is not None:
        query = query.where(TaskInstance.task_id.in_(sorted(task_ids)))
    return {ti_id: state for ti_id, state in session.execute(query)}
