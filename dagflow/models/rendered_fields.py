"""What a task instance's template fields rendered to on its latest try (Airflow's ``rendered_task_instance_fields``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, JSONText, UTCDateTime, utcnow


class RenderedTaskInstanceFields(Base):
    """The rendered values (secrets masked by the worker) of one task instance's ``template_fields``.

    One row per task instance, replaced by each try; it goes with the task instance (cascade).
    """

    __tablename__ = "rendered_task_instance_fields"

    ti_id: Mapped[int] = mapped_column(sa.ForeignKey("task_instance.id", ondelete="CASCADE"), primary_key=True)
    try_number: Mapped[int] = mapped_column()
    rendered_fields: Mapped[dict[str, Any]] = mapped_column(JSONText)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
