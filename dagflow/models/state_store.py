"""The state store: JSON values that persist across runs and DAGs, by namespace and key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, JSONText, UTCDateTime, utcnow


class StateStoreEntry(Base):
    """One stored value (``dagflow.state_store.state_store.get/set/delete``)."""

    __tablename__ = "state_store"

    namespace: Mapped[str] = mapped_column(sa.String(250), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(512), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONText, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
