"""Running a scheduler as a process: job row, signals, executor, DAG parsing, clean exit.

Used by ``dagflow scheduler`` and ``dagflow standalone``. SIGINT and SIGTERM stop the
loop after the current tick; then parsing stops, the executor shuts down (running tries
finish or are terminated, no process is left) and the job row is ended.

On PostgreSQL an ``EventListener`` (``dagflow.execution.events``) wakes the loop the
moment a worker records a try's outcome or a run is triggered or cleared anywhere;
on SQLite a ``SqliteRunWatcher`` notices runs queued by other processes; the poll
interval stays the fallback.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from dagflow.config import Settings
from dagflow.db import Database, when_reachable
from dagflow.exceptions import DatabaseError
from dagflow.execution.events import RUN_QUEUED, EventListener
from dagflow.executors.base import BaseExecutor
from dagflow.executors.registry import executor_from_settings
from dagflow.scheduler.clock import utc_clock
from dagflow.scheduler.dag_callbacks import CallbackRunner
from dagflow.scheduler.job import SchedulerJob
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.parsing import dag_parsing
from dagflow.scheduler.sqlite_watch import sqlite_run_watcher
from dagflow.signals import on_signals

log = logging.getLogger(__name__)

#: A shutdown still going after this many seconds prints every thread's stack to stderr
#: (once; the shutdown goes on): what it waits for is then in the scheduler's log.
SLOW_SHUTDOWN_STACKS_S = 20.0


def run_scheduler(
    settings: Settings,
    db: Database,
    *,
    folders: Sequence[Path],
    num_runs: int | None = None,
    executor: BaseExecutor | None = None,
    on_started: Callable[[Scheduler], None] | None = None,
) -> int:
    """Run a scheduler in this process until stopped (or ``num_runs`` ticks); returns ticks."""
    executor = executor or executor_from_settings(settings, db=db)
    job = SchedulerJob(
        db, executor_class=type(executor).__name__, heartbeat_interval=settings.scheduler.heartbeat_interval
    )
    when_reachable(lambda: job.register(utc_clock()), settings.database.startup_wait_timeout, "scheduler")
    parsing = None if settings.scheduler.standalone_dag_processor else dag_parsing(settings, db, folders)
    scheduler = Scheduler(settings, db, executor, parsing=parsing, callbacks=CallbackRunner(settings), job_id=job.id)
    listener = scheduler_listener(settings, scheduler)
    watcher = sqlite_run_watcher(db, scheduler.notify_run)
    failed = True
    try:
        executor.start()
        listener.start()  # PostgreSQL only: events from workers, triggers and other schedulers
        if watcher is not None:  # SQLite only: runs queued by `dags trigger` and the like
            watcher.start()
        with _stop_on_signals(scheduler):
            if on_started is not None:
                on_started(scheduler)
            ticks = scheduler.run(num_runs=num_runs, on_tick=lambda _: _heartbeat(job))
        failed = False
        return ticks
    finally:
        log.info("scheduler stopping: shutting the executor down")
        faulthandler.dump_traceback_later(SLOW_SHUTDOWN_STACKS_S)
        try:
            listener.stop()
            if watcher is not None:
                watcher.stop()
            scheduler.shutdown()
            job.end(utc_clock(), failed=failed)
        finally:
            faulthandler.cancel_dump_traceback_later()


def _heartbeat(job: SchedulerJob) -> None:
    """Beat if due; a DB that is briefly away costs one beat, not the scheduler (ticks retry too)."""
    try:
        job.heartbeat_if_due(utc_clock())
    except (DatabaseError, OperationalError) as exc:
        log.warning("scheduler heartbeat failed, retrying at the next tick: %s", exc)


def scheduler_listener(settings: Settings, scheduler: Scheduler) -> EventListener:
    """An ``EventListener`` that wakes ``scheduler`` for the run an event names (no-op off PostgreSQL)."""

    def on_event(kind: str, fields: dict[str, Any]) -> None:
        dag_id, run_id = fields.get("dag_id"), fields.get("run_id")
        if isinstance(dag_id, str) and isinstance(run_id, str):
            scheduler.notify_run(dag_id, run_id, manage_runs=kind == RUN_QUEUED)

    return EventListener(settings, on_event, name="scheduler-events")


@contextmanager
def _stop_on_signals(scheduler: Scheduler) -> Iterator[None]:
    """SIGINT/SIGTERM -> ``scheduler.stop()`` while inside (relayed: see ``dagflow.signals``)."""

    def stop(sig: signal.Signals) -> None:
        log.info("received %s: stopping after this tick", sig.name)
        scheduler.stop()

    with on_signals(stop):
        yield
