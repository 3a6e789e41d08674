"""DAG runs between creation and their end: start queued runs, time out late ones, look back.

- ``start_queued_runs``: ``queued -> running`` oldest logical date first, under the DAG's
  ``max_active_runs`` (a backfill's runs count against the backfill's own limit);
  runs of paused DAGs wait, except backfill runs (as in Airflow 3); runs of paused
  (cancelled) backfills wait. Several schedulers: the DAG's row is locked ``SKIP
  LOCKED`` while its runs are counted and started, so the limit holds across them.
  ``start_queued_run`` starts one given run with no limit (``dags test``).
- ``fail_timed_out_runs``: a running run past ``dagrun_timeout`` becomes ``failed``; its
  queued/running task instances ``failed`` (their workers see it at the next heartbeat
  and kill the tree), the ones not started yet ``skipped``.
- ``past_not_met``: the tasks of a run whose ``depends_on_past``/``wait_for_downstream``
  condition on the previous run is not met (for ``plan_run``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import Backfill, DagModel, DagRun, TaskInstance
from dagflow.models.transitions import set_dagrun_state, set_dagrun_states, set_ti_state_where
from dagflow.scheduler.locking import skip_locked
from dagflow.serialization import SerializedDag
from dagflow.state import NOT_STARTED, STARTED, SUCCESS_LIKE, DagRunState, DagRunTriggeredByType, TaskInstanceState

TI = TaskInstanceState
RunKey = tuple[str, int | None]


class StartedRun(NamedTuple):
    """A run ``start_queued_runs`` moved to running."""

    id: int
    dag_id: str
    run_id: str


def unpaused_or_backfill() -> sa.ColumnElement[bool]:
    """Filter for runs the scheduler works on: the DAG is unpaused, or the run belongs to a backfill.

    Never a ``dags test`` / ``tasks test`` run (``triggered_by`` = ``test``): the process that
    made it drives it alone, whether the DAG is paused or not.
    """
    return sa.and_(
        sa.or_(DagModel.is_paused.is_(False), DagRun.backfill_id.is_not(None)),
        sa.or_(DagRun.triggered_by.is_(None), DagRun.triggered_by != DagRunTriggeredByType.TEST.value),
    )


def start_queued_runs(session: Session, *, now: datetime, default_limit: int) -> list[StartedRun]:
    """Move queued runs to running while their DAG (or backfill) has room; the runs started.

    Three statements whatever the number started: the queued runs (their DAG rows locked),
    the running counts of their DAGs, and one ``UPDATE`` of the runs picked (a
    compare-and-set on ``queued``), not one per run.
    """
    query = (
        sa.select(
            DagRun.id,
            DagRun.dag_id,
            DagRun.run_id,
            DagRun.backfill_id,
            DagModel.max_active_runs,
            Backfill.max_active_runs,
        )
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .outerjoin(Backfill, Backfill.id == DagRun.backfill_id)
        .where(
            DagRun.state == DagRunState.QUEUED,
            unpaused_or_backfill(),
            sa.or_(Backfill.id.is_(None), Backfill.is_paused.is_(False)),
        )
        .order_by(DagRun.logical_date, DagRun.id)
    )
    # Lock the DAG rows, not the runs: counting a DAG's running runs and starting more
    # must be one scheduler's job at a time, or two could each fill max_active_runs.
    query = skip_locked(session, query, DagModel)
    queued = session.execute(query).all()
    if not queued:
        return []
    running = _running_counts(session, {row.dag_id for row in queued})
    picked: list[StartedRun] = []
    for pk, dag_id, run_id, backfill_id, dag_limit, backfill_limit in queued:
        key: RunKey = (dag_id, backfill_id)
        limit = backfill_limit if backfill_id is not None else dag_limit
        if running[key] >= (limit if limit is not None else default_limit):
            continue
        running[key] += 1
        picked.append(StartedRun(pk, dag_id, run_id))
    if not picked:
        return []
    moved = set_dagrun_states(
        session,
        [run.id for run in picked],
        to=DagRunState.RUNNING,
        expected=[DagRunState.QUEUED],
        values={"start_date": now},
    )
    return [run for run in picked if run.id in moved]


def start_queued_run(session: Session, dag_id: str, run_id: str, *, now: datetime) -> bool:
    """``queued -> running`` for one run, whatever its DAG's pause and ``max_active_runs`` (a scoped scheduler)."""
    run_pk = session.scalar(
        sa.select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id, DagRun.state == DagRunState.QUEUED)
    )
    if run_pk is None:
        return False
    return set_dagrun_state(
        session, run_pk, to=DagRunState.RUNNING, expected=[DagRunState.QUEUED], values={"start_date": now}
    )


def _running_counts(session: Session, dag_ids: Iterable[str]) -> defaultdict[RunKey, int]:
    query = (
        sa.select(DagRun.dag_id, DagRun.backfill_id, sa.func.count())
        .where(DagRun.dag_id.in_(list(dag_ids)), DagRun.state == DagRunState.RUNNING)
        .group_by(DagRun.dag_id, DagRun.backfill_id)
    )
    counts: defaultdict[RunKey, int] = defaultdict(int)
    for dag_id, backfill_id, count in session.execute(query):
        counts[(dag_id, backfill_id)] = int(count)
    return counts


def is_timed_out(run: DagRun, dag: SerializedDag, now: datetime) -> bool:
    """True when ``run`` has been running longer than the DAG's ``dagrun_timeout``."""
    if dag.dagrun_timeout is None or run.start_date is None:
        return False
    return now - run.start_date > dag.dagrun_timeout


def fail_timed_out_run(session: Session, run: DagRun, *, now: datetime) -> bool:
    """Fail ``run`` and its task instances (see the module docstring); False if it moved already."""
    if not set_dagrun_state(
        session, run.id, to=DagRunState.FAILED, expected=[DagRunState.RUNNING], values={"end_date": now}
    ):
        return False
    where = [TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id]
    reason = "DAG run timed out"
    for state in sorted(STARTED):
        set_ti_state_where(
            session, to=TI.FAILED, expected=[state], where=where, values={"end_date": now, "end_reason": reason}
        )
    for state in sorted(NOT_STARTED):
        set_ti_state_where(
            session, to=TI.SKIPPED, expected=[state], where=where, values={"end_date": now, "note": reason}
        )
    session.refresh(run)
    return True


def past_not_met(session: Session, run: DagRun, dag: SerializedDag) -> set[str]:
    """Task ids whose ``depends_on_past``/``wait_for_downstream`` is not met by the previous run."""
    watched = [t for t in dag.tasks.values() if t.depends_on_past or t.wait_for_downstream]
    if not watched:
        return set()
    previous = session.scalar(
        sa.select(DagRun.run_id)
        .where(DagRun.dag_id == run.dag_id, DagRun.logical_date < run.logical_date)
        .order_by(DagRun.logical_date.desc())
        .limit(1)
    )
    if previous is None:
        return set()
    states = _states_in_run(session, run.dag_id, previous)
    blocked: set[str] = set()
    for task in watched:
        needed = {task.task_id} | (set(task.downstream_task_ids) if task.wait_for_downstream else set())
        if any(not states.get(tid, set()) <= SUCCESS_LIKE for tid in needed):
            blocked.add(task.task_id)
    return blocked


def _states_in_run(session: Session, dag_id: str, run_id: str) -> Mapping[str, set[TaskInstanceState]]:
    query = sa.select(TaskInstance.task_id, TaskInstance.state).where(
        TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
    )
    states: defaultdict[str, set[TaskInstanceState]] = defaultdict(set)
    for task_id, state in session.execute(query):
        states[task_id].add(state)
    return states
