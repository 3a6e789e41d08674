"""``Triggerer``: the ``dagflow triggerer`` process: a ``job`` row, a heartbeat, and the trigger loop.

Every ``sync_interval`` (and at once when a trigger fires) the loop, off the event loop
in a thread: writes the outcomes of finished triggers (``store.submit_event`` /
``submit_failure``), heartbeats, drops unused triggers, claims unowned ones (new
deferrals, and those of a triggerer whose heartbeat stopped: another triggerer picks
them up) and reads what it holds; then, on the event loop, starts and cancels triggers
to match. Many thousands of waits cost one coroutine each, no process or worker slot.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.execution.backend import DbRuntimeBackend
from dagflow.execution.claim import this_host
from dagflow.models import Job, Trigger
from dagflow.models.base import utcnow
from dagflow.models.job import JOB_FAILED, JOB_RUNNING, JOB_SUCCESS
from dagflow.triggerer import store
from dagflow.triggerer.runner import TriggerOutcome, TriggerRunner

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database

log = logging.getLogger(__name__)

#: Default most triggers one triggerer runs at once (Airflow's ``triggerer.capacity``).
DEFAULT_CAPACITY = 1000
#: Seconds between two syncs with the DB when nothing fired.
SYNC_INTERVAL_S = 1.0


@dataclass
class SyncReport:
    """What one sync did (for tests and logs)."""

    events: int = 0
    failures: int = 0
    claimed: int = 0
    cleaned: int = 0
    held: int = 0


class Triggerer:
    """One triggerer process (or thread, in tests and ``standalone``)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        capacity: int = DEFAULT_CAPACITY,
        sync_interval: float = SYNC_INTERVAL_S,
    ) -> None:
        self.settings = settings
        self.db = db
        self.capacity = capacity
        self.sync_interval = sync_interval
        self.heartbeat_interval = settings.scheduler.heartbeat_interval
        self.job_id: int | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: TriggerRunner | None = None
        self.syncs = 0

    # --- job row -------------------------------------------------------------------------
    def register(self) -> int:
        """Insert this triggerer's ``job`` row; its id."""
        now = utcnow()
        with self.db.transaction() as session:
            job = Job(
                job_type=store.TRIGGERER_JOB,
                state=JOB_RUNNING,
                hostname=this_host(),
                pid=os.getpid(),
                start_date=now,
                latest_heartbeat=now,
            )
            session.add(job)
            session.flush()
            self.job_id = job.id
        return self.job_id

    def end(self, *, failed: bool = False) -> None:
        """Mark the job finished and hand its triggers back (another triggerer takes them at once)."""
        if self.job_id is None:
            return
        with self.db.transaction() as session:
            session.execute(
                sa.update(Job)
                .where(Job.id == self.job_id)
                .values(state=JOB_FAILED if failed else JOB_SUCCESS, end_date=utcnow())
            )
            session.execute(sa.update(Trigger).where(Trigger.triggerer_id == self.job_id).values(triggerer_id=None))

    # --- one sync (blocking; runs in a thread) ----------------------------------------------
    def sync(self, outcomes: list[TriggerOutcome], now: datetime | None = None) -> tuple[SyncReport, dict[int, Any]]:
        """Write outcomes, heartbeat, clean, claim; the report and the triggers this triggerer holds."""
        now = now or utcnow()
        report = SyncReport()
        assert self.job_id is not None, "register() first"
        report.failures = sum(1 for outcome in outcomes if outcome.error is not None)
        report.events = len(outcomes) - report.failures
        with self.db.transaction() as session:
            store.submit_outcomes(session, {o.trigger_id: (o.payload, o.error) for o in outcomes})
            session.execute(sa.update(Job).where(Job.id == self.job_id).values(latest_heartbeat=now))
            report.cleaned = store.clean_unused_triggers(session)
            alive = store.alive_triggerer_ids(session, now=now, fresh=store.fresh_after(self.heartbeat_interval))
            report.claimed = store.claim_triggers(session, self.job_id, capacity=self.capacity, alive=alive)
            held = store.held_triggers(session, self.job_id)
        report.held = len(held)
        self.syncs += 1
        if report.events or report.failures or report.claimed:
            log.info("triggerer: %s", report)
        return report, held

    # --- the loop ----------------------------------------------------------------------------
    def run(self) -> None:
        """Register, then run triggers until ``stop()``; the job row is ended on the way out."""
        if self.job_id is None:
            self.register()
        failed = True
        try:
            asyncio.run(self._main())
            failed = False
        finally:
            self.end(failed=failed)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        runtime = DbRuntimeBackend(self.db, self.settings, dag_id="triggerer", run_id="triggerer")
        runner = self._runner = TriggerRunner(runtime)
        try:
            while not self._stop.is_set():
                outcomes = runner.take_outcomes()
                try:
                    _, held = await asyncio.to_thread(self.sync, outcomes)
                except Exception:
                    log.exception("triggerer sync failed; retrying")
                    runner.outcomes[:0] = outcomes  # written at the next sync
                else:
                    runner.update(held)
                runner.wakeup.clear()
                if runner.outcomes:
                    continue
                try:
                    await asyncio.wait_for(runner.wakeup.wait(), self.sync_interval)
                except TimeoutError:
                    pass
        finally:
            await runner.cancel_all()

    @property
    def running_triggers(self) -> int:
        """How many triggers run now."""
        return len(self._runner.tasks) if self._runner is not None else 0

    def stop(self) -> None:
        """Ask ``run()`` to return (thread- and signal-safe)."""
        self._stop.set()
        loop = self._loop
        runner = self._runner
        if loop is not None and runner is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(runner.wakeup.set)
            except RuntimeError:
                pass  # the loop closed meanwhile
