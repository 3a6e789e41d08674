"""Triggers: the waits of deferred task instances, run by a triggerer process."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, JSONText, UTCDateTime, utcnow


class Trigger(Base):
    """One trigger (``classpath`` + ``kwargs``); ``triggerer_id``: the triggerer job running it."""

    __tablename__ = "trigger"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    classpath: Mapped[str] = mapped_column(sa.String(1000))
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONText)
    created_date: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    triggerer_id: Mapped[int | None] = mapped_column(index=True)
