"""Task switches: a task disabled without editing its DAG file (``dagflow tasks disable``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, UTCDateTime, utcnow


class TaskSwitch(Base):
    """One disabled task: for one run (``run_id``) or for every run still to come (``run_id`` None).

    A task instance of a disabled task that has not started yet ends ``skipped`` with the note
    ``"disabled: REASON"`` and counts as a success downstream, as ``disabled=True`` in code does.
    """

    __tablename__ = "task_switch"
    __table_args__ = (sa.Index("idx_task_switch_dag", "dag_id", "run_id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(sa.String(250), nullable=False)
    task_id: Mapped[str] = mapped_column(sa.String(250), nullable=False)
    #: None: every run of the DAG whose task instance has not started yet.
    run_id: Mapped[str | None] = mapped_column(sa.String(250), nullable=True)
    reason: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    #: Who disabled it (``services.actor``).
    disabled_by: Mapped[str | None] = mapped_column(sa.String(256), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
