"""DAG runs: one row per run of a DAG (scheduled, manual or backfill)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from dagflow.models.base import ID_LEN, Base, DagRunStateType, JSONText, UTCDateTime, utcnow
from dagflow.state import DagRunState, DagRunType

if TYPE_CHECKING:
    from dagflow.models.taskinstance import TaskInstance


class DagRun(Base):
    """One run of a DAG. ``state`` is written only by ``dagflow.models.transitions``."""

    __tablename__ = "dag_run"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    logical_date: Mapped[datetime] = mapped_column(UTCDateTime)
    run_type: Mapped[str] = mapped_column(sa.String(50), default=DagRunType.MANUAL.value)
    #: Who made the run (``DagRunTriggeredByType``); ``test`` runs are owned by ``dags test``, not schedulers.
    triggered_by: Mapped[str | None] = mapped_column(sa.String(50))
    state: Mapped[DagRunState] = mapped_column(DagRunStateType, default=DagRunState.QUEUED)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data_interval_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    data_interval_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conf: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    external_trigger: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    backfill_id: Mapped[int | None] = mapped_column(sa.ForeignKey("backfill.id", ondelete="SET NULL"), index=True)
    #: True when a task with ``allow_failure`` failed and the run still succeeded.
    has_soft_failures: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    note: Mapped[str | None] = mapped_column(sa.Text)
    last_scheduling_decision: Mapped[datetime | None] = mapped_column(UTCDateTime)
    creating_job_id: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    task_instances: Mapped[list[TaskInstance]] = relationship(
        back_populates="dag_run", passive_deletes=True, lazy="select"
    )

    __table_args__ = (
        sa.UniqueConstraint("dag_id", "run_id"),
        sa.UniqueConstraint("dag_id", "logical_date"),
        # Active runs per DAG; runs to examine in a scheduler tick.
        sa.Index("ix_dag_run_state_dag_id", "state", "dag_id"),
    )

    @property
    def is_finished(self) -> bool:
        """True when the run is ``success`` or ``failed``."""
        return self.state in (DagRunState.SUCCESS, DagRunState.FAILED)
