"""Users of the web UI and REST API, and their API tokens."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, UTCDateTime, utcnow

#: Roles, most powerful first.
ROLES: tuple[str, ...] = ("admin", "op", "viewer")


class User(Base):
    """One user; ``password_hash`` is an argon2id hash (``dagflow.services.passwords``), never a password.

    ``auth_epoch`` grows on every password change and deactivation: a web session carries the
    epoch it was opened at and ends when it no longer matches.
    """

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(sa.String(256), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(512))
    role: Mapped[str] = mapped_column(sa.String(20), default="viewer")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    auth_epoch: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))


class ApiToken(Base):
    """A bearer token of one user, stored as its SHA-256 hash (the token itself is shown once).

    ``expires_at`` is set for tokens from ``POST /auth/token``; tokens made with ``dagflow users
    create-token`` do not expire. A revoked token (``revoked_at``) never authenticates again.
    """

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
