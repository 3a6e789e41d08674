"""Jobs: long-running dagflow processes (scheduler, dag processor, worker) and their heartbeats."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, UTCDateTime, as_utc, utcnow

JOB_RUNNING = "running"
JOB_SUCCESS = "success"
JOB_FAILED = "failed"


class Job(Base):
    """One process run (``job_type`` e.g. ``scheduler``); alive while its heartbeat is fresh."""

    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    job_type: Mapped[str] = mapped_column(sa.String(30))
    state: Mapped[str] = mapped_column(sa.String(20), default=JOB_RUNNING)
    hostname: Mapped[str | None] = mapped_column(sa.String(1000))
    pid: Mapped[int | None] = mapped_column()
    start_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    latest_heartbeat: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    executor_class: Mapped[str | None] = mapped_column(sa.String(500))

    __table_args__ = (sa.Index("ix_job_type_state_heartbeat", "job_type", "state", "latest_heartbeat"),)

    def is_alive(self, *, now: datetime, timeout: timedelta) -> bool:
        """True when running and heartbeated within ``timeout`` before ``now``."""
        return self.state == JOB_RUNNING and self.latest_heartbeat > as_utc(now) - timeout
