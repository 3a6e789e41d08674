"""Values passed between tasks (``xcom``) and the lengths of mapped-task outputs (``task_map``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import ID_LEN, Base, JSONText, UTCDateTime, utcnow

#: The key a task's return value is pushed under.
XCOM_RETURN_KEY = "return_value"


class XCom(Base):
    """One value pushed by one task instance under one key (JSON; large values hold a storage URI)."""

    __tablename__ = "xcom"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    run_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    task_id: Mapped[str] = mapped_column(sa.String(ID_LEN))
    map_index: Mapped[int] = mapped_column(default=-1, server_default=sa.text("-1"))
    key: Mapped[str] = mapped_column(sa.String(512), default=XCOM_RETURN_KEY)
    value: Mapped[Any] = mapped_column(JSONText, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "key"),
        sa.ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
    )


class TaskMap(Base):
    """How many elements an upstream task pushed, to size the tasks mapped over it."""

    __tablename__ = "task_map"

    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    run_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    task_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    map_index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    length: Mapped[int] = mapped_column()
    #: The dict keys when the pushed value was a dict; NULL for a list.
    keys: Mapped[list[Any] | None] = mapped_column(JSONText)

    __table_args__ = (
        sa.ForeignKeyConstraint(["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"),
        sa.CheckConstraint("length >= 0", name="length_not_negative"),
    )
