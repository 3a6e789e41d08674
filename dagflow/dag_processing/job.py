"""The DAG processor's ``job`` row: registered at start, heartbeated each pass, ended at stop."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.execution.claim import this_host
from dagflow.models import Job
from dagflow.models.job import JOB_RUNNING, JOB_SUCCESS

JOB_TYPE = "dag_processor"


def register_job(session: Session, *, now: datetime) -> int:
    """Insert a running ``dag_processor`` job for this process; its id."""
    job = Job(
        job_type=JOB_TYPE,
        state=JOB_RUNNING,
        hostname=this_host(),
        pid=os.getpid(),
        start_date=now,
        latest_heartbeat=now,
    )
    session.add(job)
    session.flush()
    return job.id


def heartbeat(session: Session, job_id: int, *, now: datetime) -> None:
    """Record that the processor is alive at ``now``."""
    session.execute(sa.update(Job).where(Job.id == job_id).values(latest_heartbeat=now))


def end_job(session: Session, job_id: int, *, now: datetime, state: str = JOB_SUCCESS) -> None:
    """Mark the job finished."""
    session.execute(sa.update(Job).where(Job.id == job_id).values(state=state, end_date=now, latest_heartbeat=now))


def processor_alive(session: Session, *, now: datetime, timeout: timedelta) -> bool:
    """True when some running ``dag_processor`` job heartbeated within ``timeout``."""
    query = (
        sa.select(sa.func.count())
        .select_from(Job)
        .where(Job.job_type == JOB_TYPE, Job.state == JOB_RUNNING, Job.latest_heartbeat > now - timeout)
    )
    return bool(session.scalar(query))
