"""The scheduler: ``tick(now) -> TickReport`` does one iteration; ``run()`` loops around it.

A tick, in order:

1. parse DAG files if a parser is attached and files changed (``parsing.py``);
2. collect executor events (each marks its run for examination);
3. chores, planning, writes. On a *full pass* (every ``scheduler.poll_interval``, when
   a retry/reschedule/run/trigger timeout is due, or after a run ended): fail
   deferrals past their timeout, compute ``next_dagrun*`` for new DAG versions, create
   due (backfill and asset-triggered) runs, start queued
   runs under ``max_active_runs``, and plan every running run; between full passes
   only the runs an executor event touched are planned. Full passes also run the
   reaper and the SLA checker (``reaper.py``, ``sla.py``; every heartbeat interval).
   Then apply the plans and queue scheduled task instances under every limit
   (``queueing.py``). On SQLite the chores (when due) are one write transaction, the
   reading and planning a read transaction (a WAL snapshot: the workers' claims and
   records do not wait for it), and applying the plans plus queueing a second, short
   write transaction that drops plans made stale in between (``tick.py``,
   ``stale_plans.py``; their reads only when the plan marker moved since the read,
   ``models/plan_marker.py``). On PostgreSQL, where readers block nobody, all of it is one
   transaction, so the ``SKIP LOCKED`` row locks on the runs planned hold until the
   plans are written (two schedulers never plan one run);
4. after the commit: submit the workloads (and re-sent stuck ones) to the executor;
   hand DAG callbacks, reaped tries' task callbacks and SLA miss callbacks to the
   ``CallbackRunner``.

``run()`` ticks, then waits for an executor event (the LocalExecutor sets its
``wakeup`` the moment a try ends) or the poll interval, whichever comes first. The
clock is a parameter, so tests drive ``tick()`` with a fake one (``clock.py``).

``only_run=(dag_id, run_id)`` scopes a scheduler to one DAG run (``dags test``,
``dagflow.testing.run_dag``; driven to its end by ``single_run.run_to_end``): no run
is created from timetables or backfills and no other run is started; that run is
started if queued, planned on every tick whether its DAG is paused or not, and its
scheduled task instances are queued ignoring pools, concurrency limits and the
executor's free slots (as Airflow's ``dag.test()``). The reaper and the SLA checker do
not run: they look after every run in the DB, and a scoped run's retries and
reschedules come from the planner, not from them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import DatabaseError
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.models import plan_marker
from dagflow.scheduler.asset_runs import create_asset_triggered_runs
from dagflow.scheduler.backfill import create_backfill_runs
from dagflow.scheduler.clock import Clock, utc_clock
from dagflow.scheduler.dag_callbacks import CallbackRequest, CallbackRunner, DagCallbackRequest
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.scheduler.marker_watch import MarkerWatch
from dagflow.scheduler.parsing import DagParsing
from dagflow.scheduler.queueing import Candidate, queue_task_instances
from dagflow.scheduler.reaper import Sweep, sweep
from dagflow.scheduler.run_creation import MAX_RUNS_PER_PASS, create_due_runs, refresh_next_dagruns
from dagflow.scheduler.run_lifecycle import start_queued_run, start_queued_runs
from dagflow.scheduler.run_scheduling import queue_scheduled
from dagflow.scheduler.sla import check_slas
from dagflow.scheduler.ti_reads import KnownTIs
from dagflow.scheduler.tick import (
    FinishedRun,
    PlannedRun,
    RunKey,
    TickReport,
    apply_planned_runs,
    plan_running_runs,
)
from dagflow.scheduler.unread_runs import UnreadRuns
from dagflow.serialization import SerializedDag
from dagflow.state import DagRunState
from dagflow.triggerer.store import fail_timed_out_deferrals, next_trigger_timeout

log = logging.getLogger(__name__)

#: Longest extra wait for more executor events while its workers are all busy (seconds).
COALESCE_MAX_S = 0.05
#: With at least this many tries in flight, events are coalesced too (a fan-out).
COALESCE_MIN_RUNNING = 4
#: What a tick's transactions hand back: the runs that finished, the workloads to submit, the sweep.
TickWrites = tuple[list[FinishedRun], list[TaskWorkload], Sweep]


class Scheduler:
    """One scheduler: DAG runs and task instances from the DB to an executor and back."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        executor: BaseExecutor,
        clock: Clock = utc_clock,
        *,
        parsing: DagParsing | None = None,
        callbacks: CallbackRunner | None = None,
        job_id: int | None = None,
        only_run: RunKey | None = None,
        on_event: Callable[[TaskWorkload, TaskEvent], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.executor = executor
        self.clock = clock
        self.parsing = parsing
        self.callbacks = callbacks
        self.job_id = job_id
        self.only_run = only_run
        self.on_event = on_event
        self.store = SerializedDagStore()
        self.known_tis = KnownTIs()  # rows kept between ticks: a tick reads what changed (ti_reads.py)
        self.marker = MarkerWatch(self.known_tis)  # the plan marker as the last tick read it, what it keeps
        self.unread_runs = UnreadRuns()  # PostgreSQL: quiet runs a full pass leaves unread (unread_runs.py)
        self._seen_versions: dict[str, str] = {}
        self._submitted: dict[tuple[int, int], TaskWorkload] = {}
        self._dirty: set[RunKey] = set()
        self._full_pass_at: datetime | None = None
        self._run_ended = False
        self._housekeeping_at: datetime | None = None
        self._stop = threading.Event()
        self._notify_lock = threading.Lock()
        self._notified: set[RunKey] = set()
        self._manage_requested = False
        self.wakeup: threading.Event = executor.wakeup
        self.ticks = 0
        #: Read and plan in a read transaction, write in a short one (SQLite; see ``tick``).
        self.plan_outside_write_lock = db.dialect == "sqlite"

    # --- one iteration ---------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickReport:
        """Do one scheduling iteration at ``now`` (default: the clock)."""
        now = now or self.clock()
        report = TickReport()
        if self.parsing is not None:
            self.parsing.scan_if_due(now)
        self.executor.heartbeat()
        report.events = self._process_events(self.executor.poll())
        manage = self._take_notifications()
        full = self._full_pass_at is None or now >= self._full_pass_at
        chores_due = full or self._run_ended or manage
        try:
            with self.store.one_tick():  # a DAG's hash is checked once, not once per transaction
                if self.plan_outside_write_lock:
                    finished, workloads, chores = self._tick_in_three(now, report, full=full, chores_due=chores_due)
                else:
                    finished, workloads, chores = self._tick_in_one(now, report, full=full, chores_due=chores_due)
        except BaseException:
            self.marker.forget()  # it may hold rows of a rolled-back transaction
            self.unread_runs.forget()
            raise
        self._run_ended = bool(finished)
        self._plan_next_full_pass(now, report)
        self._submit(chores.resend + workloads)
        self._run_callbacks(finished, chores.callbacks)
        self.ticks += 1
        return report

    def _tick_in_one(self, now: datetime, report: TickReport, *, full: bool, chores_due: bool) -> TickWrites:
        """PostgreSQL: chores, planning and writes in one transaction, the runs planned locked ``SKIP LOCKED``.

        The row locks are what keeps two schedulers from planning one run; on PostgreSQL
        the transaction blocks no reader and no worker's claim or record anyway.
        """
        with self.db.transaction() as session:
            chores = self._chores(session, now, report, full=full) if chores_due else Sweep()
            plan_marker.scheduler_session(session)  # the chores' writes bump; the plans' do not
            examined: list[tuple[int, SerializedDag]] = []
            planned = self._plan(session, now, report, full=full, examined=examined)  # reads the marker first
            marker = self.marker.seen
            finished = apply_planned_runs(session, planned, report, now=now, known=self.known_tis, marker=marker)
            if full:
                self.unread_runs.examined(examined, now)
            return finished, self._queue(session, now, report), chores

    def _tick_in_three(self, now: datetime, report: TickReport, *, full: bool, chores_due: bool) -> TickWrites:
        """SQLite: chores (when due) in a write transaction, planning in a read one, then the writes.

        The read is a WAL snapshot that blocks no worker, so the write lock is held only
        to apply the plans (compare-and-set, stale plans dropped: ``stale_plans.py``) and
        to queue; one scheduler per SQLite database (``job.py``), so no run is planned twice.
        """
        chores = Sweep()
        if chores_due:
            with self.db.transaction() as session:
                chores = self._chores(session, now, report, full=full)
        with self.db.transaction(readonly=True) as session:
            planned = self._plan(session, now, report, full=full)  # the marker rides on its first read
            marker = self.marker.seen
        with self.db.transaction() as session:
            plan_marker.scheduler_session(session)
            finished = apply_planned_runs(session, planned, report, now=now, known=self.known_tis, marker=marker)
            return finished, self._queue(session, now, report), chores

    def _chores(self, session: Session, now: datetime, report: TickReport, *, full: bool) -> Sweep:
        """Run management; on full passes also the reaper and the SLA checker (their sweep)."""
        self._manage_runs(session, now, report)
        return self._housekeeping(session, now, report) if full else Sweep()

    def _plan(
        self,
        session: Session,
        now: datetime,
        report: TickReport,
        *,
        full: bool,
        examined: list[tuple[int, SerializedDag]] | None = None,
    ) -> list[PlannedRun]:
        """Read and plan the runs to examine; on PostgreSQL a full pass leaves unchanged quiet runs unread."""
        return plan_running_runs(
            session,
            self.store,
            report,
            now=now,
            only=self._examine_only(full),
            include_paused=self.only_run is not None,
            known=self.known_tis,
            watch=self.marker,  # reads the marker before the plans' reads; drops what it kept if it moved
            unread=self.unread_runs if examined is not None else None,
            examined=examined,
        )

    def _manage_runs(self, session: Session, now: datetime, report: TickReport) -> None:
        """Run-level housekeeping: next-run fields, due and backfill runs, queued runs to start.

        Done on full passes and right after a run ended (a ``max_active_runs`` slot
        opened); between them a tick only follows task events. Scoped: only start that run.
        """
        if self.only_run is not None:
            report.runs_started = int(start_queued_run(session, *self.only_run, now=now))
            return
        failed_deferrals = fail_timed_out_deferrals(session, now=now)  # resumed to fail: planned below
        if failed_deferrals:
            self.known_tis.forget()
        report.tis_changed += failed_deferrals
        report.wake_at(next_trigger_timeout(session))
        refresh_next_dagruns(session, self.store, self._seen_versions, now=now)
        report.runs_created = len(create_due_runs(session, self.store, now=now, limit=MAX_RUNS_PER_PASS))
        if report.runs_created >= MAX_RUNS_PER_PASS:
            report.wake_at(now)  # more may be due: another short pass right away
        report.runs_created += len(create_backfill_runs(session, self.store, now=now))
        report.runs_created += len(create_asset_triggered_runs(session, self.store, now=now))
        started = start_queued_runs(session, now=now, default_limit=self.settings.core.max_active_runs_per_dag)
        report.runs_started = len(started)
        for run in started:  # new, or re-queued by a clear: read in full
            self._dirty.add((run.dag_id, run.run_id))
            self.known_tis.run_changed((run.dag_id, run.run_id))

    def _housekeeping(self, session: Session, now: datetime, report: TickReport) -> Sweep:
        """Reaper and SLA checker (``reaper.py``, ``sla.py``), at most every heartbeat interval.

        Returns the workloads to re-send and the callbacks to run after the commit.
        Not for a scoped scheduler (see the module docstring).
        """
        if self.only_run is not None:
            return Sweep()
        if self._housekeeping_at is not None and now < self._housekeeping_at:
            return Sweep()
        self._housekeeping_at = now + timedelta(seconds=self.settings.scheduler.heartbeat_interval)
        chores = sweep(session, self.store, self.settings, now=now, held=self.executor.held_tries(), job_id=self.job_id)
        report.tis_changed += chores.changed
        if chores.changed:
            self.known_tis.forget()  # the reaper moved rows no executor event names
        report.wake_at(chores.next_try_at)
        if self.settings.scheduler.check_slas:
            chores.callbacks.extend(check_slas(session, self.store, now=now))
        return chores

    def notify_run(self, dag_id: str, run_id: str, *, manage_runs: bool = False) -> None:
        """Another process changed this run: plan it in the next tick, now (thread-safe).

        ``manage_runs``: also do the run housekeeping (a run was queued: start it).
        Called by the event listener thread (``process.py``).
        """
        with self._notify_lock:
            self._notified.add((dag_id, run_id))
            self._manage_requested = self._manage_requested or manage_runs
        self.wakeup.set()

    def _take_notifications(self) -> bool:
        """Move notified runs into the dirty set; True if housekeeping was asked for."""
        with self._notify_lock:
            notified, self._notified = self._notified, set()
            manage, self._manage_requested = self._manage_requested, False
        self._dirty.update(notified)
        for run in notified:
            self.known_tis.run_changed(run)
        return manage

    @property
    def tries_in_flight(self) -> int:
        """Tries submitted to the executor whose event has not come back yet."""
        return len(self._submitted)

    def _examine_only(self, full: bool) -> set[RunKey] | None:
        """None (every running run) on a full pass, else the runs marked since the last tick; scoped: its run."""
        dirty, self._dirty = self._dirty, set()
        if self.only_run is not None:
            return {self.only_run}
        return None if full else dirty

    def _plan_next_full_pass(self, now: datetime, report: TickReport) -> None:
        if self._full_pass_at is None or now >= self._full_pass_at:
            self._full_pass_at = now + timedelta(seconds=self.settings.scheduler.poll_interval)
        if report.next_wakeup is not None and report.next_wakeup < self._full_pass_at:
            self._full_pass_at = report.next_wakeup

    def _queue(self, session: Session, now: datetime, report: TickReport) -> list[TaskWorkload]:
        if self.only_run is not None:
            workloads = self._queue_scoped(session, now)
            report.tis_queued = len(workloads)
            return workloads
        finished: list[Candidate] = []
        workloads = queue_task_instances(
            session,
            self.store,
            slots=self.executor.slots_free,
            now=now,
            max_per_query=self.settings.scheduler.max_tis_per_query,
            default_max_active_tasks=self.settings.core.max_active_tasks_per_dag,
            job_id=self.job_id,
            older_runs_first=self.settings.scheduler.older_runs_first,
            cursor=self.known_tis.queue,
            finished=finished,
            finish_empty=self.settings.scheduler.finish_empty_operators,
        )
        for c in finished:  # marked success without running: plan their downstream at once
            self._dirty.add((c.dag_id, c.run_id))
            self.known_tis.ti_changed((c.dag_id, c.run_id), c.ti_id)
        if finished:
            report.tis_changed += len(finished)
            self.wakeup.set()  # the next tick plans those runs (from the rows these moved)
        report.tis_queued = len(workloads)
        return workloads

    def _queue_scoped(self, session: Session, now: datetime) -> list[TaskWorkload]:
        """Every scheduled task instance of the scoped run, no limit applied (module docstring)."""
        assert self.only_run is not None
        run = find_dagrun(session, dag_id=self.only_run[0], run_id=self.only_run[1])
        if run is None or run.state is not DagRunState.RUNNING:
            return []
        return queue_scheduled(session, run=run, now=now)

    def _submit(self, workloads: list[TaskWorkload]) -> None:
        for workload in workloads:
            self._submitted[(workload.ti_id, workload.try_number)] = workload
        self.executor.submit_many(workloads)
        if workloads and self.executor.runs_inline:
            self.wakeup.set()  # the executor already ran them: look again at once

    def _process_events(self, events: list[TaskEvent]) -> int:
        for event in events:
            workload = self._submitted.pop((event.ti_id, event.try_number), None)
            if workload is not None:
                self._dirty.add((workload.dag_id, workload.run_id))
                self.known_tis.ti_changed((workload.dag_id, workload.run_id), event.ti_id)
                if self.on_event is not None:
                    self.on_event(workload, event)
            if event.state is None or not _is_final(event):
                log.warning("task instance %s try %s: %s", event.ti_id, event.try_number, event.info)
        return len(events)

    def _run_callbacks(self, finished: list[FinishedRun], requests: Sequence[CallbackRequest] = ()) -> None:
        if self.callbacks is not None:
            for request in requests:  # task callbacks of reaped tries, SLA miss callbacks
                self.callbacks.submit(request)
        for run in finished:
            log.info("DAG run %s/%s finished: %s", run.dag_id, run.run_id, run.state.value)
            if run.has_callback and self.callbacks is not None:
                name = "on_success_callback" if run.state.value == "success" else "on_failure_callback"
                self.callbacks.submit(DagCallbackRequest(run.dag_id, run.run_id, run.fileloc, name, run.reason))
        if self.callbacks is not None:
            self.callbacks.reap()

    # --- the loop ----------------------------------------------------------------------
    def run(self, *, num_runs: int | None = None, on_tick: Callable[[TickReport], object] | None = None) -> int:
        """Tick until ``stop()`` (or ``num_runs`` ticks); returns the number of ticks."""
        done = 0
        while not self._stop.is_set():
            self.wakeup.clear()
            try:
                report = self.tick(self.clock())
            except (OperationalError, DatabaseError, IntegrityError) as exc:  # DB away or locked; a lost race
                log.error("scheduler tick failed, retrying after the poll interval: %s", exc)
                self.wakeup.wait(self.settings.scheduler.poll_interval)
                continue
            done += 1
            if on_tick is not None:
                on_tick(report)
            if num_runs is not None and done >= num_runs:
                break
            self.wakeup.wait(self._wait_seconds(report))
            self._coalesce_events()
        return done

    def _coalesce_events(self) -> None:
        """While the executor has a backlog, or a fan-out in flight, let events pile up a little.

        Its workers are busy either way, so ticking on every single completion would only
        spend CPU and DB locks (a tick plans every task instance of the run); one tick for
        several events plans the same. Bounded by ``COALESCE_MAX_S`` so a critical path
        never waits long; a lone try (a chain) is never held back.
        """
        deadline = time.monotonic() + COALESCE_MAX_S
        while self._busy() and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.wakeup.clear()
            self.wakeup.wait(remaining)

    def _busy(self) -> bool:
        return self.executor.backlog > 0 or len(self.executor.running) >= COALESCE_MIN_RUNNING

    def _wait_seconds(self, report: TickReport) -> float:
        """Until the next timer, at most the poll interval (0 when there is more to do)."""
        if (
            report.tis_queued
            and self.executor.slots_free
            and report.tis_queued >= self.settings.scheduler.max_tis_per_query
        ):
            return 0.0
        wait = self.settings.scheduler.poll_interval
        if self._full_pass_at is not None:  # the next retry, reschedule or run timeout
            wait = min(wait, max((self._full_pass_at - self.clock()).total_seconds(), 0.0))
        return wait

    def stop(self) -> None:
        """Ask ``run()`` to return after the current tick (safe from signal handlers)."""
        self._stop.set()
        self.wakeup.set()

    def shutdown(self) -> None:
        """Stop parsing, the executor and callback processes."""
        if self.parsing is not None:
            self.parsing.stop()
        self.executor.shutdown()
        if self.callbacks is not None:
            self.callbacks.shutdown()


def _is_final(event: TaskEvent) -> bool:
    return event.state is not None and event.state.value not in ("queued", "scheduled")
