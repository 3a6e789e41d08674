"""Is dagflow alive: the metadata database, and the latest heartbeat of the scheduler, DAG processor and triggerer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import DagflowError
from dagflow.models import Job
from dagflow.scheduler.job import fresh_after

#: Job types whose heartbeat is reported, as Airflow names the components.
COMPONENTS = {"scheduler": "scheduler", "dag_processor": "dag_processor", "triggerer": "triggerer"}


@dataclass(frozen=True)
class ComponentHealth:
    """``status`` is ``healthy``, ``unhealthy`` or None (never seen); when it last heartbeated."""

    status: str | None
    latest_heartbeat: datetime | None


@dataclass(frozen=True)
class Health:
    """The metadata database's status and each component's."""

    metadatabase: str
    components: dict[str, ComponentHealth]


def health(settings: Settings, db: Database) -> Health:
    """Read the heartbeats; an unreachable database is ``unhealthy``, never an error."""
    fresh = fresh_after(settings.scheduler.heartbeat_interval)
    now = pendulum.now("UTC")
    try:
        with db.transaction(readonly=True) as session:
            rows = dict(
                session.execute(
                    sa.select(Job.job_type, sa.func.max(Job.latest_heartbeat))
                    .where(Job.job_type.in_(list(COMPONENTS)))
                    .group_by(Job.job_type)
                ).all()
            )
    except (DagflowError, sa.exc.SQLAlchemyError):
        empty = ComponentHealth("unhealthy", None)
        return Health("unhealthy", {name: empty for name in COMPONENTS.values()})
    components = {}
    for job_type, name in COMPONENTS.items():
        beat = rows.get(job_type)
        if beat is None:
            components[name] = ComponentHealth(None, None)
        else:
            healthy = now - pendulum.instance(beat) <= fresh
            components[name] = ComponentHealth("healthy" if healthy else "unhealthy", beat)
    return Health("healthy", components)


#: ``jobs check --job-type``: dagflow's names and Airflow's class names, to the stored job type.
JOB_TYPES = {
    "scheduler": "scheduler",
    "SchedulerJob": "scheduler",
    "dag-processor": "dag_processor",
    "dag_processor": "dag_processor",
    "DagProcessorJob": "dag_processor",
    "triggerer": "triggerer",
    "TriggererJob": "triggerer",
}


@dataclass(frozen=True)
class AliveJob:
    """A running job whose heartbeat is fresh."""

    id: int
    job_type: str
    hostname: str | None
    pid: int | None
    latest_heartbeat: datetime


def alive_jobs(
    settings: Settings, db: Database, *, job_type: str | None = None, hostname: str | None = None, limit: int = 1
) -> list[AliveJob]:
    """Running jobs with a fresh heartbeat (newest first), filtered by type and host (``jobs check``)."""
    fresh = fresh_after(settings.scheduler.heartbeat_interval)
    now = pendulum.now("UTC")
    query = sa.select(Job).where(Job.state == "running", Job.latest_heartbeat > now - fresh)
    if job_type is not None:
        query = query.where(Job.job_type == JOB_TYPES.get(job_type, job_type))
    if hostname is not None:
        query = query.where(Job.hostname == hostname)
    query = query.order_by(Job.latest_heartbeat.desc()).limit(limit)
    with db.transaction(readonly=True) as session:
        return [AliveJob(j.id, j.job_type, j.hostname, j.pid, j.latest_heartbeat) for j in session.scalars(query)]
