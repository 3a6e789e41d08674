"""The scheduler's ``job`` row: registered at start, heartbeated, ended on exit.

On SQLite only one scheduler may run (one writer; no ``SKIP LOCKED``): a second one
refuses to start while another scheduler's heartbeat is fresh, unless that scheduler
ran on this host and its process is gone.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import psutil
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import DagflowError
from dagflow.execution.claim import this_host
from dagflow.models import Job
from dagflow.models.job import JOB_FAILED, JOB_RUNNING, JOB_SUCCESS

SCHEDULER_JOB = "scheduler"


def fresh_after(heartbeat_interval: float) -> timedelta:
    """How long a heartbeat counts as alive: three missed beats, at least 10 s."""
    return timedelta(seconds=max(3 * heartbeat_interval, 10.0))


class SchedulerJob:
    """One scheduler process's ``job`` row and its heartbeat."""

    def __init__(self, db: Database, *, executor_class: str, heartbeat_interval: float) -> None:
        self.db = db
        self.executor_class = executor_class
        self.heartbeat_interval = heartbeat_interval
        self.id: int | None = None
        self._next_beat = 0.0

    def register(self, now: datetime) -> int:
        """Insert the row (refusing a second scheduler on SQLite); returns its id."""
        with self.db.transaction() as session:
            if self.db.dialect == "sqlite":
                other = live_scheduler(session, now=now, fresh=fresh_after(self.heartbeat_interval))
                if other is not None:
                    raise DagflowError(
                        f"another scheduler (job {other.id}, pid {other.pid} on {other.hostname}) is running "
                        "on this SQLite database; only one scheduler may run on SQLite"
                    )
            job = Job(
                job_type=SCHEDULER_JOB,
                state=JOB_RUNNING,
                hostname=this_host(),
                pid=os.getpid(),
                start_date=now,
                latest_heartbeat=now,
                executor_class=self.executor_class,
            )
            session.add(job)
            session.flush()
            self.id = job.id
        self._next_beat = time.monotonic() + self.heartbeat_interval
        return self.id

    def heartbeat_if_due(self, now: datetime) -> bool:
        """Refresh ``latest_heartbeat`` every ``heartbeat_interval``; True if it did."""
        if self.id is None or time.monotonic() < self._next_beat:
            return False
        with self.db.transaction() as session:
            session.execute(sa.update(Job).where(Job.id == self.id).values(latest_heartbeat=now))
        self._next_beat = time.monotonic() + self.heartbeat_interval
        return True

    def end(self, now: datetime, *, failed: bool = False) -> None:
        """Mark the job finished."""
        if self.id is None:
            return
        with self.db.transaction() as session:
            session.execute(
                sa.update(Job)
                .where(Job.id == self.id)
                .values(state=JOB_FAILED if failed else JOB_SUCCESS, end_date=now)
            )


def live_scheduler(session: sa.orm.Session, *, now: datetime, fresh: timedelta) -> Job | None:
    """A running scheduler job whose heartbeat is newer than ``fresh``, if any.

    A job of this host whose process is gone (a scheduler killed with ``kill -9``) is
    not alive, however fresh its last heartbeat.
    """
    jobs = session.scalars(
        sa.select(Job)
        .where(Job.job_type == SCHEDULER_JOB, Job.state == JOB_RUNNING, Job.latest_heartbeat > now - fresh)
        .order_by(Job.latest_heartbeat.desc())
    )
    return next((job for job in jobs if not _gone_from_this_host(job)), None)


def job_is_alive(job: Job, *, now: datetime, fresh: timedelta) -> bool:
    """Running, heartbeating within ``fresh``, and (if it ran on this host) its process exists."""
    return (
        job.state == JOB_RUNNING
        and job.latest_heartbeat is not None
        and job.latest_heartbeat > now - fresh
        and not _gone_from_this_host(job)
    )


def _gone_from_this_host(job: Job) -> bool:
    """True if ``job`` ran on this machine and no such process runs any more (or only its zombie)."""
    if job.pid is None or job.hostname != this_host():
        return False
    try:
        return psutil.Process(job.pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
