"""The audit event log (Airflow's ``log`` table): who did what to which DAG, run or task, and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import ID_LEN, Base, JSONText, UTCDateTime, utcnow


class EventLog(Base):
    """One recorded action of a person (or a script acting as one); rows are only ever added."""

    __tablename__ = "event_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    when: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The user (API, UI) or OS user (CLI) who acted; None when nobody could be named.
    actor: Mapped[str | None] = mapped_column(sa.String(256))
    event: Mapped[str] = mapped_column(sa.String(60))
    dag_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    task_id: Mapped[str | None] = mapped_column(sa.String(ID_LEN))
    map_index: Mapped[int | None] = mapped_column()
    try_number: Mapped[int | None] = mapped_column()
    extra: Mapped[Any] = mapped_column(JSONText, nullable=True)

    __table_args__ = (
        sa.Index("ix_event_log_when", "when"),
        sa.Index("ix_event_log_dag_id_when", "dag_id", "when"),
        sa.Index("ix_event_log_event", "event"),
    )
