"""What one scheduler tick reports, and the pass over running DAG runs, in two halves.

``plan_running_runs`` (reads only) loads the running runs to examine (all of them, or
only the ones an event or a timer marked), their serialized DAGs in one batch
(deserialized once per DAG version by ``SerializedDagStore``), and plans each run that
is not past its ``dagrun_timeout``. ``apply_planned_runs`` (writes) fails the late runs
and applies the plans, dropping those a write since the read made stale
(``stale_plans.py``; on SQLite the read was an earlier transaction, ``loop.py``). It
returns the runs that finished so the loop can run DAG callbacks after the commit.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import DagModel, DagRun, plan_marker
from dagflow.scheduler import quiet_runs
from dagflow.scheduler.dag_store import CachedDag, SerializedDagStore
from dagflow.scheduler.locking import is_postgresql, skip_locked_if
from dagflow.scheduler.marker_watch import MarkerWatch
from dagflow.scheduler.planner import RunPlan
from dagflow.scheduler.run_lifecycle import (
    fail_timed_out_run,
    is_timed_out,
    past_not_met,
    unpaused_or_backfill,
)
from dagflow.scheduler.run_scheduling import (
    RUNS_PER_READ,
    RunInputs,
    TaskSwitches,
    apply_run_plan,
    plan_loaded_run,
    read_run_inputs,
)
from dagflow.scheduler.stale_plans import plan_is_stale, still_running
from dagflow.scheduler.ti_reads import SMALL_RUN_TASKS, KnownTIs, LoadedTIs, load_tis, load_tis_of_runs
from dagflow.scheduler.unread_runs import UnreadRuns
from dagflow.serialization import SerializedDag
from dagflow.state import DagRunState

RunKey = tuple[str, str]
Key = tuple[str, int]


@dataclass
class TickReport:
    """What one tick did (counts), and when the loop must look again at the latest."""

    runs_created: int = 0
    runs_started: int = 0
    runs_examined: int = 0
    #: Examined runs not planned again: their inputs read as when their plan was last empty (``quiet_runs``).
    runs_unchanged: int = 0
    #: Running runs a full pass neither locked nor read: quiet, their task instances unchanged (``unread_runs``).
    runs_unread: int = 0
    runs_finished: int = 0
    runs_timed_out: int = 0
    #: Runs whose plans went through the stale-plan checks (``stale_plans``): a write that can make a
    #: plan stale committed since the read (the plan marker moved), or the caller read no marker.
    runs_checked_stale: int = 0
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


@functools.lru_cache(maxsize=16)
def _running_runs_statement(postgresql: bool, only: bool, include_paused: bool = False, marker: bool = False) -> Any:
    """The running-runs query, built once per (dialect, filtered or not, paused DAGs too or not, marker or not)."""
    query = (
        sa.select(DagRun)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(DagRun.state == DagRunState.RUNNING)
        .order_by(DagRun.logical_date, DagRun.id)
    )
    # The DAG's stored hash (its version checked without a query of its own), and the plan marker.
    query = query.add_columns(SerializedDagStore.hash_column(DagRun.dag_id))
    if marker:
        query = query.add_columns(plan_marker.as_column())
    if not include_paused:
        query = query.where(unpaused_or_backfill())
    query = skip_locked_if(postgresql, query, DagRun)  # several schedulers: each run planned by one
    if only and postgresql:  # the keys themselves: two lists would lock their cross product
        query = query.where(sa.tuple_(DagRun.dag_id, DagRun.run_id).in_(sa.bindparam("keys", expanding=True)))
    elif only:
        query = query.where(
            DagRun.dag_id.in_(sa.bindparam("dag_ids", expanding=True)),
            DagRun.run_id.in_(sa.bindparam("run_ids", expanding=True)),
        )
    return query


def running_runs(session: Session, only: Collection[RunKey] | None, *, include_paused: bool = False) -> list[DagRun]:
    """Running runs of unpaused DAGs and backfill runs; with ``only``, just those keys (oldest first).

    On PostgreSQL ``only`` is matched as (dag_id, run_id) pairs, so only those runs are locked:
    scheduled runs of many DAGs share run ids, and a DAG list and a run-id list locked their
    cross product (most running runs, on every event tick).

    ``include_paused``: runs of paused DAGs too (a scheduler scoped to one run: ``dags test``).
    """
    return _running_runs(session, only, include_paused=include_paused).runs


class _RunsRead(NamedTuple):
    runs: list[DagRun]
    #: The stored hash of each run's DAG (None: not serialized), read with the runs.
    hashes: dict[str, str | None]
    #: The plan marker read in the same statement (None if not asked, or no row came back).
    marker: str | None


def _running_runs(
    session: Session, only: Collection[RunKey] | None, *, include_paused: bool = False, marker: bool = False
) -> _RunsRead:
    """``running_runs``, with their DAGs' hashes and (``marker``) the plan marker read in the same statement.

    The marker comes back None when the query returned no row (or did not run: ``only``
    empty): the caller reads it on its own then.
    """
    postgresql = is_postgresql(session)
    if only is not None and not only:
        return _RunsRead([], {}, None)
    statement = _running_runs_statement(postgresql, only is not None, include_paused, marker)
    params: dict[str, Any] = {}
    if only is not None and postgresql:
        params = {"keys": sorted(only)}
    elif only is not None:
        params = {"dag_ids": sorted({d for d, _ in only}), "run_ids": sorted({r for _, r in only})}
    rows = session.execute(statement, params).all()
    seen = plan_marker.value_of(rows[0][2]) if marker and rows else None
    hashes = {row[0].dag_id: row[1] for row in rows}
    runs = [row[0] for row in rows]
    if only is not None:
        runs = [run for run in runs if (run.dag_id, run.run_id) in only]
    return _RunsRead(runs, hashes, seen)


@functools.lru_cache(maxsize=2)
def _runs_by_pk_statement(postgresql: bool) -> Any:
    """Running runs by primary key (a bound list), oldest first, locked ``SKIP LOCKED`` on PostgreSQL."""
    query = (
        sa.select(DagRun)
        .where(DagRun.id.in_(sa.bindparam("pks", expanding=True)), DagRun.state == DagRunState.RUNNING)
        .order_by(DagRun.logical_date, DagRun.id)
    )
    return skip_locked_if(postgresql, query, DagRun)


def running_runs_by_pk(session: Session, pks: Sequence[int]) -> list[DagRun]:
    """The runs of ``pks`` still running and not locked by another scheduler, oldest first (in batches)."""
    postgresql = is_postgresql(session)
    runs: list[DagRun] = []
    for start in range(0, len(pks), RUNS_PER_LOCK):
        runs.extend(
            session.scalars(_runs_by_pk_statement(postgresql), {"pks": list(pks[start : start + RUNS_PER_LOCK])})
        )
    return runs


#: Runs per statement of ``running_runs_by_pk`` (bound parameters well under the driver's limit).
RUNS_PER_LOCK = 1000


@dataclass
class PlannedRun:
    """One run as read and planned, for ``apply_planned_runs``; no plan: past its ``dagrun_timeout``."""

    run: DagRun
    entry: CachedDag
    rows: dict[Key, Any] = field(default_factory=dict)
    plan: RunPlan | None = None
    #: What the plan was made from (``quiet_runs.plan_key``), to remember an empty plan by.
    quiet_key: Hashable | None = None


def plan_running_runs(
    session: Session,
    store: SerializedDagStore,
    report: TickReport,
    *,
    now: datetime,
    only: Collection[RunKey] | None = None,
    include_paused: bool = False,
    known: KnownTIs | None = None,
    watch: MarkerWatch | None = None,
    unread: UnreadRuns | None = None,
    examined: list[tuple[int, SerializedDag]] | None = None,
) -> list[PlannedRun]:
    """Read and plan every running run to examine (see ``running_runs``); writes nothing.

    Run in a read transaction, its plans are applied later by ``apply_planned_runs``.
    ``known``: the task instances the scheduler keeps between ticks (``ti_reads``): a run
    is read only where it changed; without it every run is read in full. ``watch``: the
    plan marker is read first (on the runs query) and told to it, before anything kept is
    used (``marker_watch``; its ``seen`` is the marker to hand to ``apply_planned_runs``),
    and the task switches come from it. ``unread`` (a full pass on PostgreSQL): quiet runs
    whose task instances did not change are neither locked nor read (``unread_runs``; the
    marker is then read on its own first); the runs examined are appended to ``examined``
    for ``UnreadRuns.examined`` after the writes.
    """
    hashes: dict[str, str | None] | None = None
    if only is None and unread is not None and not include_paused:
        marker = plan_marker.read(session)
        if watch is not None:
            watch.saw(marker)
        pks, quiet = unread.to_examine(session, now=now, marker=marker)
        report.runs_unread += len(quiet)
        for pk in quiet:
            report.wake_at(quiet_runs.quiet_until(pk))
        runs = running_runs_by_pk(session, pks)
    else:
        runs, hashes, seen = _running_runs(session, only, include_paused=include_paused, marker=watch is not None)
        if watch is not None:
            watch.saw(seen if seen is not None else plan_marker.read(session))
    dags = store.get_many(session, {run.dag_id for run in runs}, hashes=hashes)
    if not runs:
        switches = TaskSwitches(())
    else:
        switches = watch.switches(session, dags) if watch is not None else TaskSwitches.load(session, dags)
    planned: list[PlannedRun] = []
    for start in range(0, len(runs), RUNS_PER_READ):
        batch = runs[start : start + RUNS_PER_READ]
        planned.extend(_plan_batch(session, batch, dags, report, now, switches, known))
    if examined is not None:
        examined.extend((run.id, dags[run.dag_id].dag) for run in runs if run.dag_id in dags)
    return planned


def _plan_batch(
    session: Session,
    runs: Sequence[DagRun],
    dags: Mapping[str, CachedDag],
    report: TickReport,
    now: datetime,
    switches: TaskSwitches,
    known: KnownTIs | None,
) -> Iterator[PlannedRun]:
    """Some runs: those past their timeout as they are, the others planned.

    Their task instances are read (one query for the small runs: ``load_tis_of_runs``),
    then their other inputs in one query each for the batch (``read_run_inputs``), then
    each run is planned, unless its inputs read as when its plan was last empty
    (``quiet_runs``: it is left out).
    """
    todo: list[tuple[DagRun, CachedDag]] = []
    for run in runs:
        entry = dags.get(run.dag_id)
        if entry is None:
            continue
        report.runs_examined += 1
        if is_timed_out(run, entry.dag, now):
            yield PlannedRun(run, entry)
            continue
        todo.append((run, entry))
    with_dags = [(run, entry.dag) for run, entry in todo]
    loaded = load_tis_of_runs(session, with_dags, known=known, now=now)
    inputs = read_run_inputs(session, with_dags)
    for run, entry in todo:
        dag = entry.dag
        past = past_not_met(session, run, dag)
        if dag.dagrun_timeout is not None and run.start_date is not None:
            report.wake_at(run.start_date + dag.dagrun_timeout)
        key = _plan_key(run, entry, loaded[run.id], inputs[run.id], past, switches)
        if key is not None and quiet_runs.is_quiet(run.id, key, now):
            report.runs_unchanged += 1
            report.wake_at(quiet_runs.quiet_until(run.id))
            continue
        read, plan = loaded[run.id], None
        while plan is None:
            plan = plan_loaded_run(run, dag, read.tis, inputs[run.id], now=now, past_not_met=past, switches=switches)
            if plan.run_state is not None and not read.complete:  # a run ends only on a full read
                if known is not None:
                    known.run_changed((run.dag_id, run.run_id))
                read, plan = load_tis(session, run, known=known, now=now), None
        report.warnings.extend(plan.warnings)
        report.wake_at(plan.next_wakeup)
        yield PlannedRun(run, entry, read.rows, plan, quiet_key=key)


def apply_planned_runs(
    session: Session,
    planned: Sequence[PlannedRun],
    report: TickReport,
    *,
    now: datetime,
    known: KnownTIs | None = None,
    marker: str | None = None,
) -> list[FinishedRun]:
    """Write the plans (and time out the late runs); the runs that finished.

    The plans were read in an earlier transaction (SQLite, ``loop.py``) or by earlier
    statements of this one (PostgreSQL, READ COMMITTED: a clear may have committed in
    between), so a run no longer running is left alone and a plan that a write since
    made stale is dropped (``stale_plans.py``): the next tick, right away, replans it
    from a full read. ``marker``: the plan marker read before the plans' reads
    (``plan_marker``); if it still reads the same, no write that can make a plan stale
    committed since, and the checks' reads are skipped. Without it they always run.
    ``known`` is told what was written (``ti_reads``).
    """
    check = bool(planned) and (marker is None or plan_marker.read(session) != marker)
    running = still_running(session, [item.run.id for item in planned]) if check else None
    finished: list[FinishedRun] = []
    for item in planned:
        session.add(item.run)  # read in another session on SQLite; a no-op otherwise
        if running is not None and item.run.id not in running:
            if known is not None:
                known.forget((item.run.dag_id, item.run.run_id))
            continue
        report.runs_checked_stale += int(check)
        ended = _apply(session, item, report, now=now, known=known, check=check)
        if ended is not None:
            state, reason = ended
            has_callback = item.entry.dag.has_callback(_callback_name(state))
            finished.append(
                FinishedRun(item.run.dag_id, item.run.run_id, state, reason, item.entry.fileloc, has_callback)
            )
    report.runs_finished += len(finished)
    return finished


def _apply(
    session: Session, item: PlannedRun, report: TickReport, *, now: datetime, known: KnownTIs | None, check: bool
) -> tuple[DagRunState, str] | None:
    """Time out or apply one run (dropping its plan if ``check`` finds it stale); (state, reason) if it finished."""
    run, dag, plan = item.run, item.entry.dag, item.plan
    if plan is None:
        if fail_timed_out_run(session, run, now=now):
            if known is not None:  # its scheduled rows were skipped: nothing of it is kept (nor counted as queueable)
                known.forget((run.dag_id, run.run_id))
            report.runs_timed_out += 1
            return DagRunState.FAILED, "timed_out"
        return None
    if check and plan_is_stale(session, run, dag, plan, item.rows):
        if known is not None:
            known.run_changed((run.dag_id, run.run_id))
        report.wake_at(now)  # a full pass at once plans it again
        return None
    tick = apply_run_plan(session, run=run, dag=dag, plan=plan, rows=item.rows, now=now)
    _tell_known(known, run, plan, item.rows, tick.changed)
    report.tis_changed += tick.changed
    if item.quiet_key is not None:
        quiet_runs.remember(run.id, item.quiet_key, plan_empty=tick.plan_empty, next_wakeup=tick.next_wakeup)
    if tick.run_state is not None:
        quiet_runs.forget(run.id)
        reason = "success" if tick.run_state == DagRunState.SUCCESS else "task_failure"
        return tick.run_state, reason
    return None


def _plan_key(
    run: DagRun, entry: CachedDag, loaded: LoadedTIs, inputs: RunInputs, past: set[str], switches: TaskSwitches
) -> Hashable | None:
    """What the run's plan depends on (``quiet_runs.plan_key``); None for a run not running yet (it is
    started first) or a large one (kept by ``KnownTIs`` and planned from what changed instead)."""
    if run.state != DagRunState.RUNNING or len(loaded.tis) > SMALL_RUN_TASKS:
        return None
    return quiet_runs.plan_key(
        entry.dag_hash,
        loaded.tis,
        branch_decisions=inputs.branch_decisions,
        task_map=inputs.task_map,
        past_not_met=past,
        switched_off=switches.for_run(run.dag_id, run.run_id),
    )


def _callback_name(state: DagRunState) -> str:
    return "on_success_callback" if state == DagRunState.SUCCESS else "on_failure_callback"


def _tell_known(known: KnownTIs | None, run: DagRun, plan: RunPlan, rows: dict[Key, Any], moved: int) -> None:
    """What the applier wrote is read again next time (all of the run if it missed or created rows; nothing if it ended)."""
    if known is None:
        return
    if plan.run_state is not None:
        known.forget((run.dag_id, run.run_id))
    else:
        known.plan_applied((run.dag_id, run.run_id), plan, rows, moved)
