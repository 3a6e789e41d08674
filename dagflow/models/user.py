"""Users of the web UI and REST API."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, UTCDateTime, utcnow

#: Roles, most powerful first.
ROLES: tuple[str, ...] = ("admin", "op", "viewer")


class User(Base):
    """One user; ``password_hash`` is produced by the web layer, never a plain password."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(256), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(512))
    role: Mapped[str] = mapped_column(sa.String(20), default="viewer")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
