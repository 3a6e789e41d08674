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
    #: 1 for a new key, +1 on every write: ``set(..., expected_version=n)`` compares against it.
    version: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1, server_default="1")
    #: When the key stops existing (``set(..., ttl=...)``); None means never.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
