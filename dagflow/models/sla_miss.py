"""SLA misses: task instances that were not done by their expected time (recorded once)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import ID_LEN, Base, UTCDateTime, utcnow


class SlaMiss(Base):
    """One missed SLA of one task in one run; unique so the checker records it once."""

    __tablename__ = "sla_miss"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    task_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    map_index: Mapped[int] = mapped_column(default=-1, server_default=sa.text("-1"))
    logical_date: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: data_interval_end + the task's ``sla``.
    expected_by: Mapped[datetime] = mapped_column(UTCDateTime)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    late_by_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)
    notification_sent: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    callback_ran: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    __table_args__ = (
        sa.UniqueConstraint("dag_id", "task_id", "run_id"),
        sa.Index("ix_sla_miss_callback_ran", "callback_ran"),
    )
