"""Backfills carried out by the scheduler: which intervals to run, and their runs, a few at a time.

A backfill is one ``backfill`` row (written by ``dagflow.services.backfills``); every
tick, ``create_backfill_runs`` looks at each backfill not completed yet and:

- lists the DAG's data intervals whose start lies in ``[from_date, to_date]``;
- classifies each one (``plan_steps``, pure): no run yet → ``create``; a run that this
  backfill already made or re-ran → ``own``; an existing finished run → ``rerun`` when
  ``reprocess_behavior`` asks for it (``failed``: failed runs; ``completed``: failed and
  successful ones) and it finished before the backfill was created, else ``skip``;
  queued and running runs are never touched;
- creates (run type ``backfill``, run id ``backfill__<logical date>``) or re-runs (the
  run's task instances cleared as ``tasks clear`` does, the run re-queued and linked to
  the backfill) the next steps in order (newest first with ``run_backwards``), while
  fewer than the backfill's ``max_active_runs`` of its runs are queued or running;
- sets ``completed_at`` once nothing is left to do and none of its runs is active.

Backfill runs are created even while the DAG is paused (as in Airflow 3); a paused
backfill creates nothing more until it is unpaused (its active runs go on); a cancelled one
is paused and completed at once (its queued runs fail, its running runs finish).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.exceptions import InvalidInput
from dagflow.models import Backfill, DagRun, TaskInstance
from dagflow.models.backfill import REPROCESS_COMPLETED, REPROCESS_FAILED, REPROCESS_NONE
from dagflow.models.transitions import set_dagrun_state
from dagflow.scheduler.clearing import clear_task_instance
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun, generate_run_id
from dagflow.scheduler.locking import skip_locked, unless_exists
from dagflow.scheduler.run_creation import timetable_of
from dagflow.serialization import SerializedDag
from dagflow.state import DAGRUN_ACTIVE, DagRunState, DagRunTriggeredByType, DagRunType
from dagflow.timetables import DataInterval
from dagflow.timetables.base import to_utc

CREATE, RERUN, SKIP, OWN = "create", "rerun", "skip", "own"
REPROCESS_BEHAVIORS = (REPROCESS_NONE, REPROCESS_FAILED, REPROCESS_COMPLETED)
#: Existing run states that each ``reprocess_behavior`` runs again.
RERUN_STATES: Mapping[str, frozenset[DagRunState]] = {
    REPROCESS_NONE: frozenset(),
    REPROCESS_FAILED: frozenset({DagRunState.FAILED}),
    REPROCESS_COMPLETED: frozenset({DagRunState.FAILED, DagRunState.SUCCESS}),
}


class BackfillError(InvalidInput):
    """A backfill that cannot be made (unscheduled DAG, bad range, bad option)."""


@dataclass(frozen=True)
class ExistingRun:
    """What the classification needs to know of a run already at an interval's logical date."""

    id: int
    run_id: str
    state: DagRunState
    end_date: datetime | None
    backfill_id: int | None


@dataclass(frozen=True)
class BackfillStep:
    """One interval of a backfill and what happens to it."""

    interval: DataInterval
    action: str
    reason: str
    run: ExistingRun | None = None

    @property
    def logical_date(self) -> datetime:
        """The run's logical date: the start of its data interval."""
        return self.interval.start


def backfill_intervals(dag: SerializedDag, start: datetime, end: datetime) -> list[DataInterval]:
    """The DAG's data intervals whose start lies in ``[start, end]``, oldest first."""
    timetable = timetable_of(dag)
    if timetable is None or not timetable.can_be_scheduled:
        raise BackfillError(f"DAG {dag.dag_id!r} has no schedule (schedule=None): there is nothing to backfill")
    if to_utc(start) > to_utc(end):
        raise BackfillError(f"the backfill starts ({start.isoformat()}) after it ends ({end.isoformat()})")
    return list(timetable.iter_intervals(start, end))


def plan_steps(
    intervals: Iterable[DataInterval],
    existing: Mapping[datetime, ExistingRun],
    *,
    reprocess: str,
    backfill_id: int | None = None,
    created_at: datetime | None = None,
    backwards: bool = False,
) -> list[BackfillStep]:
    """Classify every interval (see the module docstring); in run order."""
    if reprocess not in RERUN_STATES:
        raise BackfillError(f"unknown reprocess behavior {reprocess!r}: use one of {', '.join(REPROCESS_BEHAVIORS)}")
    steps = [_classify(iv, existing.get(to_utc(iv.start)), reprocess, backfill_id, created_at) for iv in intervals]
    return steps[::-1] if backwards else steps


def _classify(
    interval: DataInterval,
    run: ExistingRun | None,
    reprocess: str,
    backfill_id: int | None,
    created_at: datetime | None,
) -> BackfillStep:
    if run is None:
        return BackfillStep(interval, CREATE, "no run yet")
    if backfill_id is not None and run.backfill_id == backfill_id:
        return BackfillStep(interval, OWN, f"run of this backfill ({run.state.value})", run)
    if run.state in DAGRUN_ACTIVE:
        return BackfillStep(interval, SKIP, f"run {run.run_id} is {run.state.value}", run)
    finished_before = run.end_date is None or created_at is None or to_utc(run.end_date) <= to_utc(created_at)
    if run.state in RERUN_STATES[reprocess] and finished_before:
        return BackfillStep(interval, RERUN, f"run {run.run_id} is {run.state.value}: runs again", run)
    return BackfillStep(interval, SKIP, f"run {run.run_id} exists ({run.state.value})", run)


def existing_runs(session: Session, dag_id: str, start: datetime, end: datetime) -> dict[datetime, ExistingRun]:
    """The DAG's runs with a logical date in ``[start, end]``, by logical date (UTC)."""
    query = sa.select(
        DagRun.id, DagRun.run_id, DagRun.state, DagRun.end_date, DagRun.backfill_id, DagRun.logical_date
    ).where(DagRun.dag_id == dag_id, DagRun.logical_date >= start, DagRun.logical_date <= end)
    return {
        to_utc(row.logical_date): ExistingRun(row.id, row.run_id, DagRunState(row.state), row.end_date, row.backfill_id)
        for row in session.execute(query)
    }


def steps_of(session: Session, backfill: Backfill, dag: SerializedDag) -> list[BackfillStep]:
    """The current classification of every interval of ``backfill``, in run order."""
    return plan_steps(
        backfill_intervals(dag, backfill.from_date, backfill.to_date),
        existing_runs(session, backfill.dag_id, backfill.from_date, backfill.to_date),
        reprocess=backfill.reprocess_behavior,
        backfill_id=backfill.id,
        created_at=backfill.created_at,
        backwards=backfill.run_backwards,
    )


# --- the scheduler's part ----------------------------------------------------------------
def create_backfill_runs(session: Session, store: SerializedDagStore, *, now: datetime) -> list[DagRun]:
    """Advance every backfill not completed yet; the runs created or re-queued."""
    query = sa.select(Backfill).where(Backfill.completed_at.is_(None)).order_by(Backfill.id)
    backfills = list(session.scalars(skip_locked(session, query, Backfill)))  # one scheduler per backfill
    if not backfills:
        return []
    dags = store.get_many(session, {b.dag_id for b in backfills})
    started: list[DagRun] = []
    for backfill in backfills:
        entry = dags.get(backfill.dag_id)
        if entry is not None:
            started += _advance(session, backfill, entry.dag, now)
    return started


def _advance(session: Session, backfill: Backfill, dag: SerializedDag, now: datetime) -> list[DagRun]:
    """Start the next steps of one backfill under its limit, or mark it completed (a paused one waits)."""
    if backfill.is_paused:
        return []
    try:
        steps = steps_of(session, backfill, dag)
    except BackfillError:
        steps = []  # the DAG lost its schedule: nothing more to do
    active = sum(1 for s in steps if s.action == OWN and s.run is not None and s.run.state in DAGRUN_ACTIVE)
    todo = [s for s in steps if s.action in (CREATE, RERUN)]
    if not todo and not active:
        backfill.completed_at = now
        return []
    room = max(backfill.max_active_runs - active, 0)
    runs = [_start_step(session, backfill, dag, step, now) for step in todo[:room]]
    return [run for run in runs if run is not None]


def _start_step(
    session: Session, backfill: Backfill, dag: SerializedDag, step: BackfillStep, now: datetime
) -> DagRun | None:
    if step.action == CREATE:
        run_id = generate_run_id(DagRunType.BACKFILL, step.logical_date)
        return unless_exists(
            session,
            lambda: create_dagrun(  # a trigger or a due run may be first
                session,
                dag=dag,
                run_id=run_id,
                run_type=DagRunType.BACKFILL,
                logical_date=step.logical_date,
                data_interval=(step.interval.start, step.interval.end),
                conf=backfill.dag_run_conf,
                backfill_id=backfill.id,
                triggered_by=DagRunTriggeredByType.BACKFILL,
                now=now,
            ),
            f"DAG run {dag.dag_id}/{run_id}",
        )
    assert step.run is not None
    return rerun(session, dag, step.run, backfill_id=backfill.id, now=now)


def rerun(
    session: Session, dag: SerializedDag, existing: ExistingRun, *, backfill_id: int, now: datetime
) -> DagRun | None:
    """Clear a finished run's task instances (as ``tasks clear``) and re-queue it for the backfill."""
    run = session.get(DagRun, existing.id)
    if run is None or run.state != existing.state:
        return None  # it moved since we looked: the next tick classifies it again
    tis = session.scalars(
        sa.select(TaskInstance).where(TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id)
    )
    for ti in tis:
        clear_task_instance(session, dag, ti)
    values = {
        "start_date": None,
        "end_date": None,
        "last_scheduling_decision": None,
        "queued_at": now,
        "backfill_id": backfill_id,
    }
    if not set_dagrun_state(session, run.id, to=DagRunState.QUEUED, expected=[existing.state], values=values):
        return None
    session.refresh(run)
    return run


def count_by_state(steps: Sequence[BackfillStep]) -> dict[str, int]:
    """Runs of a backfill by state, plus ``pending`` (still to create or re-run)."""
    counts = {"success": 0, "failed": 0, "running": 0, "queued": 0, "pending": 0}
    for step in steps:
        if step.action in (CREATE, RERUN):
            counts["pending"] += 1
        elif step.action == OWN and step.run is not None:
            counts[step.run.state.value] += 1
    return counts
