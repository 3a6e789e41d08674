"""Backfills: a request to run a DAG over a past date range, carried out by the scheduler."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import ID_LEN, Base, JSONText, UTCDateTime, utcnow

#: ``--reprocess-behavior`` values: which existing runs in the range run again.
REPROCESS_NONE = "none"
REPROCESS_FAILED = "failed"
REPROCESS_COMPLETED = "completed"


class Backfill(Base):
    """One backfill; its runs point back at it through ``dag_run.backfill_id``."""

    __tablename__ = "backfill"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), index=True)
    from_date: Mapped[datetime] = mapped_column(UTCDateTime)
    to_date: Mapped[datetime] = mapped_column(UTCDateTime)
    reprocess_behavior: Mapped[str] = mapped_column(sa.String(20), default=REPROCESS_NONE)
    max_active_runs: Mapped[int] = mapped_column(default=10)
    run_backwards: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    dag_run_conf: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    is_paused: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
