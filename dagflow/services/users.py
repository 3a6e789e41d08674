"""Users and their API tokens: create, list, delete, reset a password, issue and revoke tokens, authenticate.

Tokens are opaque random strings; only their SHA-256 hash is stored, so the database
never holds a usable token. A password change or a deactivation revokes every token of
the user and moves its ``auth_epoch`` on, which ends its web sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pendulum
import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import AlreadyExists, InvalidInput, NotAuthenticated, NotFound
from dagflow.models import ApiToken, User
from dagflow.models.user import ROLES
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.services.passwords import check_password_rules, hash_password, needs_rehash, verify_password

#: Prefix of every token dagflow issues (recognisable in a secret scanner).
TOKEN_PREFIX = "dgf_"
#: ``last_used_at`` is written at most this often per token (no write per request).
LAST_USED_RESOLUTION = timedelta(minutes=1)
_USERNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.@-")


class UserNotFound(NotFound):
    """No user with that name."""


class TokenNotFound(NotFound):
    """No API token with that id."""


@dataclass(frozen=True)
class UserInfo:
    """A user as callers see it (never the password hash)."""

    id: int
    username: str
    role: str
    is_active: bool
    created_at: datetime
    password_changed_at: datetime | None
    auth_epoch: int


@dataclass(frozen=True)
class TokenInfo:
    """An API token's record (never the token itself)."""

    id: int
    username: str
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is shown once and cannot be read back."""

    id: int
    username: str
    name: str
    token: str
    expires_at: datetime | None


def _info(user: User) -> UserInfo:
    return UserInfo(
        user.id,
        user.username,
        user.role,
        user.is_active,
        user.created_at,
        user.password_changed_at,
        user.auth_epoch,
    )


def _check_username(username: str) -> None:
    if not username or len(username) > 256 or not set(username) <= _USERNAME_CHARS:
        raise InvalidInput(f"invalid username {username[:60]!r}: use letters, digits and '_ . @ -' (1 to 256)")


def check_role(role: str) -> str:
    """``role`` if it is one of ``admin``, ``op``, ``viewer``; ``InvalidInput`` otherwise."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def create_user(db: Database, username: str, password: str, role: str) -> UserInfo:
    """Create an active user; ``AlreadyExists`` if the name is taken."""
    _check_username(username)
    check_role(role)
    check_password_rules(password)
    ensure_schema(db)
    with db.transaction() as session:
        if _by_name(session, username) is not None:
            raise AlreadyExists(f"user {username!r} exists already")
        user = User(username=username, password_hash=hash_password(password), role=role, created_at=_now())
        session.add(user)
        events.record(session, "create_user", extra={"username": username, "role": role})
        session.flush()
        return _info(user)


def list_users(db: Database) -> list[UserInfo]:
    """Every user, by name."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return [_info(u) for u in session.scalars(sa.select(User).order_by(User.username))]


def get_user(db: Database, username: str) -> UserInfo:
    """One user; ``UserNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return _info(_get(session, username))


def delete_user(db: Database, username: str) -> None:
    """Delete a user and its tokens."""
    ensure_schema(db)
    with db.transaction() as session:
        user = _get(session, username)
        session.execute(sa.delete(ApiToken).where(ApiToken.user_id == user.id))
        session.delete(user)
        events.record(session, "delete_user", extra={"username": username})


def reset_password(db: Database, username: str, password: str) -> UserInfo:
    """Set a new password; every token and web session of the user stops working."""
    check_password_rules(password)
    ensure_schema(db)
    with db.transaction() as session:
        user = _get(session, username)
        user.password_hash = hash_password(password)
        user.password_changed_at = _now()
        _end_credentials(session, user)
        events.record(session, "reset_password", extra={"username": username})
        return _info(user)


def set_active(db: Database, username: str, active: bool) -> UserInfo:
    """Activate or deactivate a user; deactivating ends its tokens and sessions."""
    ensure_schema(db)
    with db.transaction() as session:
        user = _get(session, username)
        if user.is_active and not active:
            _end_credentials(session, user)
        user.is_active = active
        events.record(session, "set_user_active", extra={"username": username, "is_active": active})
        return _info(user)


def set_role(db: Database, username: str, role: str) -> UserInfo:
    """Give a user another role."""
    check_role(role)
    ensure_schema(db)
    with db.transaction() as session:
        user = _get(session, username)
        user.role = role
        events.record(session, "set_user_role", extra={"username": username, "role": role})
        return _info(user)


def _end_credentials(session: Session, user: User) -> None:
    user.auth_epoch += 1
    session.execute(
        sa.update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=_now())
    )


def authenticate(db: Database, username: str, password: str) -> UserInfo:
    """The active user with that name and password; ``NotAuthenticated`` otherwise (one message for all cases)."""
    ensure_schema(db)
    with db.transaction() as session:
        user = _by_name(session, username)
        if user is None:
            verify_password(_dummy_hash(), password)  # same work whether or not the user exists
            raise NotAuthenticated("invalid username or password")
        if not verify_password(user.password_hash, password) or not user.is_active:
            raise NotAuthenticated("invalid username or password")
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return _info(user)


def issue_token(db: Database, username: str, *, name: str, ttl: timedelta | None = None) -> IssuedToken:
    """A new bearer token for an active user (expiring after ``ttl`` when given)."""
    if not name or len(name) > 256:
        raise InvalidInput("a token name must have 1 to 256 characters")
    ensure_schema(db)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    with db.transaction() as session:
        user = _get(session, username)
        if not user.is_active:
            raise InvalidInput(f"user {username!r} is deactivated")
        row = ApiToken(
            user_id=user.id,
            name=name,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + ttl if ttl else None,
        )
        session.add(row)
        session.flush()
        return IssuedToken(row.id, username, name, token, row.expires_at)


def list_tokens(db: Database, username: str | None = None) -> list[TokenInfo]:
    """API tokens (of one user), oldest first."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        query = sa.select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
        if username is not None:
            query = query.where(User.username == username)
        return [
            TokenInfo(t.id, name, t.name, t.created_at, t.expires_at, t.last_used_at, t.revoked_at)
            for t, name in session.execute(query)
        ]


def revoke_token(db: Database, token_id: int) -> TokenInfo:
    """Revoke a token for good (revoking it twice is harmless)."""
    ensure_schema(db)
    with db.transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise TokenNotFound(f"API token {token_id} not found")
        if row.revoked_at is None:
            row.revoked_at = _now()
            events.record(session, "revoke_token", extra={"token_id": token_id})
        username = session.scalar(sa.select(User.username).where(User.id == row.user_id)) or ""
        return TokenInfo(row.id, username, row.name, row.created_at, row.expires_at, row.last_used_at, row.revoked_at)


def user_for_token(db: Database, token: str) -> UserInfo:
    """The active user a bearer token belongs to; ``NotAuthenticated`` for an unknown, expired or revoked token."""
    now = _now()
    with db.transaction(readonly=True) as session:
        found = session.execute(
            sa.select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == token_hash(token))
        ).one_or_none()
        if found is None:
            raise NotAuthenticated("invalid or expired token")
        row, user = found
        if row.revoked_at is not None or not user.is_active or (row.expires_at is not None and row.expires_at <= now):
            raise NotAuthenticated("invalid or expired token")
        stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION
        info, token_id = _info(user), row.id
    if stale:
        with db.transaction() as session:
            session.execute(sa.update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    return info


def user_for_session(db: Database, user_id: int, auth_epoch: int) -> UserInfo | None:
    """The user of a web session, if it is still active and its password has not changed since."""
    with db.transaction(readonly=True) as session:
        user = session.get(User, user_id)
        if user is None or not user.is_active or user.auth_epoch != auth_epoch:
            return None
        return _info(user)


def token_hash(token: str) -> str:
    """SHA-256 hex digest of a token (what is stored and looked up)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _by_name(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


def _get(session: Session, username: str) -> User:
    user = _by_name(session, username)
    if user is None:
        raise UserNotFound(f"user {username!r} not found")
    return user


def _now() -> datetime:
    return pendulum.now("UTC")


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]
