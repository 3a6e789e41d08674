"""What one scheduler tick reports, and the pass over running DAG runs.

``schedule_running_runs`` loads the running runs to examine (all of them, or only the
ones an event or a timer marked), their serialized DAGs in one batch (deserialized once
per DAG version by ``SerializedDagStore``), fails the ones past ``dagrun_timeout`` and
plans + applies the rest through ``schedule_run``. It returns the runs that finished so
the loop can run DAG callbacks after the transaction commits.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import DagModel, DagRun
from dagflow.scheduler.dag_store import CachedDag, SerializedDagStore
from dagflow.scheduler.locking import is_postgresql, skip_locked_if
from dagflow.scheduler.run_lifecycle import (
    fail_timed_out_run,
    is_timed_out,
    past_not_met,
    unpaused_or_backfill,
)
from dagflow.scheduler.run_scheduling import RUNS_PER_READ, RunInputs, TaskSwitches, read_run_inputs, schedule_run
from dagflow.scheduler.ti_reads import KnownTIs, LoadedTIs, load_tis
from dagflow.serialization import SerializedDag
from dagflow.state import DagRunState

RunKey = tuple[str, str]


@dataclass
class TickReport:
    """What one tick did (counts), and when the loop must look again at the latest."""

    runs_created: int = 0
    runs_started: int = 0
    runs_examined: int = 0
    runs_finished: int = 0
    runs_timed_out: int = 0
    tis_changed: int = 0
    tis_queued: int = 0
    events: int = 0
    next_wakeup: datetime | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def did_work(self) -> bool:
        """True if the tick changed anything in the DB or the executor."""
        return bool(self.runs_created or self.runs_started or self.runs_finished or self.tis_changed or self.tis_queued)

    def wake_at(self, when: datetime | None) -> None:
        """Keep the earliest time something becomes due."""
        if when is not None and (self.next_wakeup is None or when < self.next_wakeup):
            self.next_wakeup = when


@dataclass(frozen=True)
class FinishedRun:
    """A run that ended in this tick (for the DAG callbacks)."""

    dag_id: str
    run_id: str
    state: DagRunState
    reason: str
    fileloc: str
    has_callback: bool


@functools.lru_cache(maxsize=8)
def _running_runs_statement(postgresql: bool, only: bool, include_paused: bool = False) -> Any:
    """The running-runs query, built once per (dialect, filtered or not, paused DAGs too or not)."""
    query = (
        sa.select(DagRun)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(DagRun.state == DagRunState.RUNNING)
        .order_by(DagRun.logical_date, DagRun.id)
    )
    if not include_paused:
        query = query.where(unpaused_or_backfill())
    query = skip_locked_if(postgresql, query, DagRun)  # several schedulers: each run planned by one
    if only:
        query = query.where(
            DagRun.dag_id.in_(sa.bindparam("dag_ids", expanding=True)),
            DagRun.run_id.in_(sa.bindparam("run_ids", expanding=True)),
        )
    return query


def running_runs(session: Session, only: Collection[RunKey] | None, *, include_paused: bool = False) -> list[DagRun]:
    """Running runs of unpaused DAGs and backfill runs; with ``only``, just those keys (oldest first).

    ``include_paused``: runs of paused DAGs too (a scheduler scoped to one run: ``dags test``).
    """
    postgresql = is_postgresql(session)
    if only is None:
        return list(session.scalars(_running_runs_statement(postgresql, False, include_paused)))
    if not only:
        return []
    params = {"dag_ids": sorted({d for d, _ in only}), "run_ids": sorted({r for _, r in only})}
    runs = session.scalars(_running_runs_statement(postgresql, True, include_paused), params)
    return [run for run in runs if (run.dag_id, run.run_id) in only]


def schedule_running_runs(
    session: Session,
    store: SerializedDagStore,
    report: TickReport,
    *,
    now: datetime,
    only: Collection[RunKey] | None = None,
    include_paused: bool = False,
    known: KnownTIs | None = None,
) -> list[FinishedRun]:
    """Plan and apply every running run to examine (see ``running_runs``); the runs that finished.

    ``known``: the task instances the scheduler keeps between ticks (``ti_reads``): a run is
    read only where it changed; without it every run is read in full.
    """
    runs = running_runs(session, only, include_paused=include_paused)
    dags = store.get_many(session, {run.dag_id for run in runs})
    switches = TaskSwitches.load(session, dags) if runs else None
    finished: list[FinishedRun] = []
    for start in range(0, len(runs), RUNS_PER_READ):
        batch = runs[start : start + RUNS_PER_READ]
        for run, entry, ended in _examine_batch(session, batch, dags, report, now, switches, known):
            state, reason = ended
            has_callback = entry.dag.has_callback(_callback_name(state))
            finished.append(FinishedRun(run.dag_id, run.run_id, state, reason, entry.fileloc, has_callback))
    report.runs_finished += len(finished)
    return finished


def _examine_batch(
    session: Session,
    runs: Sequence[DagRun],
    dags: Mapping[str, CachedDag],
    report: TickReport,
    now: datetime,
    switches: TaskSwitches | None,
    known: KnownTIs | None,
) -> Iterator[tuple[DagRun, CachedDag, tuple[DagRunState, str]]]:
    """Some runs: time them out, or plan them; yields the ones that finished.

    Their task instances are read run by run, then their other inputs in one query each
    for the batch (``read_run_inputs``), then each run is planned and applied.
    """
    todo: list[tuple[DagRun, CachedDag, LoadedTIs]] = []
    for run in runs:
        entry = dags.get(run.dag_id)
        if entry is None:
            continue
        report.runs_examined += 1
        if is_timed_out(run, entry.dag, now):
            if fail_timed_out_run(session, run, now=now):
                report.runs_timed_out += 1
                yield run, entry, (DagRunState.FAILED, "timed_out")
            continue
        todo.append((run, entry, load_tis(session, run, known=known, now=now)))
    inputs = read_run_inputs(session, [(run, entry.dag) for run, entry, _ in todo])
    for run, entry, loaded in todo:
        ended = _plan(
            session,
            run,
            entry.dag,
            report,
            now=now,
            switches=switches,
            loaded=loaded,
            inputs=inputs[run.id],
            known=known,
        )
        if ended is not None:
            yield run, entry, ended


def _plan(
    session: Session,
    run: DagRun,
    dag: SerializedDag,
    report: TickReport,
    *,
    now: datetime,
    switches: TaskSwitches | None,
    loaded: LoadedTIs,
    inputs: RunInputs,
    known: KnownTIs | None,
) -> tuple[DagRunState, str] | None:
    """Plan one run; (state, reason) if it finished."""
    tick = schedule_run(
        session,
        run=run,
        dag=dag,
        now=now,
        past_not_met=past_not_met(session, run, dag),
        switches=switches,
        loaded=loaded,
        inputs=inputs,
        known=known,
    )
    report.tis_changed += tick.changed
    report.warnings.extend(tick.warnings)
    report.wake_at(tick.next_wakeup)
    if dag.dagrun_timeout is not None and run.start_date is not None:
        report.wake_at(run.start_date + dag.dagrun_timeout)
    if tick.run_state is not None:
        reason = "success" if tick.run_state == DagRunState.SUCCESS else "task_failure"
        return tick.run_state, reason
    return None


def _callback_name(state: DagRunState) -> str:
    return "on_success_callback" if state == DagRunState.SUCCESS else "on_failure_callback"
