"""The state store service: JSON values by (namespace, key) that outlive a run.

Used by the runtime backend (``dagflow.state_store.state_store`` inside tasks) and by
the CLI (``dagflow state-store``) and plain scripts. Every entry has a version (1 when
created, +1 per write) and an optional expiry; a compare-and-set write is one atomic
statement, safe against concurrent writers on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dagflow.exceptions import InvalidInput, StateStoreConflict
from dagflow.models.base import utcnow
from dagflow.models.state_store import StateStoreEntry

if TYPE_CHECKING:
    from dagflow.db import Database

DEFAULT_NAMESPACE = "default"


def check_json(value: Any, *, what: str) -> None:
    """Raise ``TypeError`` naming ``what`` if ``value`` is not JSON-serializable."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serializable, got {type(value).__name__}: {exc}") from exc


def expires_at_for(ttl: float | timedelta | None, *, now: datetime | None = None) -> datetime | None:
    """When a key written now with ``ttl`` (seconds or a timedelta, > 0) expires; None for no ttl."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float | timedelta):
        raise InvalidInput(f"ttl must be seconds or a timedelta, got {type(ttl).__name__}")
    delta = ttl if isinstance(ttl, timedelta) else timedelta(seconds=ttl)
    if delta.total_seconds() <= 0:
        raise InvalidInput(f"ttl must be positive, got {ttl!r}")
    return (now or utcnow()) + delta


def _live(now: datetime) -> sa.ColumnElement[bool]:
    """Rows that have not expired at ``now``."""
    return sa.or_(StateStoreEntry.expires_at.is_(None), StateStoreEntry.expires_at > now)


def _is_live(row: StateStoreEntry, now: datetime) -> bool:
    return row.expires_at is None or row.expires_at > now


def _where_key(namespace: str, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(StateStoreEntry.namespace == namespace, StateStoreEntry.key == key)


def get_versioned(session: Session, key: str, *, namespace: str) -> tuple[Any, int]:
    """``(value, version)``, or ``(None, 0)`` when the key is missing or expired."""
    row = session.execute(
        sa.select(StateStoreEntry.value, StateStoreEntry.version).where(_where_key(namespace, key), _live(utcnow()))
    ).first()
    return (None, 0) if row is None else (row[0], int(row[1]))


def get_value(session: Session, key: str, *, namespace: str, default: Any = None) -> Any:
    """The stored value, or ``default`` (missing or expired)."""
    row = session.execute(sa.select(StateStoreEntry.value).where(_where_key(namespace, key), _live(utcnow()))).first()
    return default if row is None else row[0]


def set_value(
    session: Session,
    key: str,
    value: Any,
    *,
    namespace: str,
    expected_version: int | None = None,
    expires_at: datetime | None = None,
) -> int:
    """Write a value and return its new version (1 for a new key).

    ``expected_version=None`` writes unconditionally (one upsert). Otherwise the write
    happens only if the stored version is ``expected_version`` (0: the key must not exist,
    an expired key counts as missing), else ``StateStoreConflict``. Each path is a single
    atomic statement, so concurrent writers never lose an update.
    """
    check_json(value, what=f"state store value {namespace}/{key}")
    if expected_version is not None and (
        isinstance(expected_version, bool) or not isinstance(expected_version, int) or expected_version < 0
    ):
        raise InvalidInput(f"expected_version must be an int >= 0, got {expected_version!r}")
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"the state store supports SQLite and PostgreSQL, not {dialect}")
    now = utcnow()
    table = StateStoreEntry.__table__
    if expected_version is None:
        module: Any = sqlite if dialect == "sqlite" else postgresql
        row = {"namespace": namespace, "key": key, "value": value, "updated_at": now, "version": 1}
        stmt = module.insert(table).values(**row, expires_at=expires_at)
        expired = sa.and_(table.c.expires_at.is_not(None), table.c.expires_at <= now)
        stmt = stmt.on_conflict_do_update(
            index_elements=["namespace", "key"],
            set_={
                "value": stmt.excluded.value,
                "updated_at": stmt.excluded.updated_at,
                "expires_at": stmt.excluded.expires_at,
                "version": sa.case((expired, 1), else_=table.c.version + 1),
            },
        ).returning(table.c.version)
        return int(session.execute(stmt).scalar_one())
    if expected_version == 0:
        # An expired entry is missing: drop it, then insert; the primary key refuses a live one.
        session.execute(sa.delete(StateStoreEntry).where(_where_key(namespace, key), sa.not_(_live(now))))
        module = sqlite if dialect == "sqlite" else postgresql
        insert = (
            module.insert(table)
            .values(namespace=namespace, key=key, value=value, updated_at=now, version=1, expires_at=expires_at)
            .on_conflict_do_nothing(index_elements=["namespace", "key"])
            .returning(table.c.version)
        )
        if session.execute(insert).first() is not None:
            return 1
    else:
        update = (
            sa.update(StateStoreEntry)
            .where(_where_key(namespace, key), StateStoreEntry.version == expected_version, _live(now))
            .values(value=value, version=StateStoreEntry.version + 1, updated_at=now, expires_at=expires_at)
            .returning(StateStoreEntry.version)
            .execution_options(synchronize_session=False)
        )
        if session.execute(update).first() is not None:
            return expected_version + 1
    _, actual = get_versioned(session, key, namespace=namespace)
    raise StateStoreConflict(
        f"state store key {namespace}/{key} is at version {actual}, expected {expected_version}",
        namespace=namespace,
        key=key,
        expected=expected_version,
        actual=actual,
    )


def delete_value(session: Session, key: str, *, namespace: str) -> bool:
    """Delete a key; True if it existed (and had not expired)."""
    now = utcnow()
    live = session.execute(sa.delete(StateStoreEntry).where(_where_key(namespace, key), _live(now)))
    session.execute(sa.delete(StateStoreEntry).where(_where_key(namespace, key)))
    return int(live.rowcount) > 0  # type: ignore[attr-defined]


def expired_before(before: datetime, *, namespace: str | None = None) -> sa.ColumnElement[bool]:
    """Rows whose key expired before ``before`` (already invisible to every read and listing)."""
    where = sa.and_(StateStoreEntry.expires_at.is_not(None), StateStoreEntry.expires_at <= before)
    return where if namespace is None else sa.and_(where, StateStoreEntry.namespace == namespace)


def purge_expired(session: Session, *, before: datetime, namespace: str | None = None, dry_run: bool = False) -> int:
    """Delete (or count, with ``dry_run``) the rows of keys expired before ``before``; how many.

    A cut-off in the future is read as now: a key that has not expired yet is never purged.
    """
    where = expired_before(min(before, utcnow()), namespace=namespace)
    if dry_run:
        return int(session.scalar(sa.select(sa.func.count()).select_from(StateStoreEntry).where(where)) or 0)
    return int(session.execute(sa.delete(StateStoreEntry).where(where)).rowcount)  # type: ignore[attr-defined]


#: Where dagflow keeps rows of its own (``models/plan_marker.py``); listed only when asked for by name.
INTERNAL_NAMESPACE = "__dagflow__"


def list_entries(session: Session, *, namespace: str | None = None, prefix: str = "") -> Iterator[StateStoreEntry]:
    """Live entries ordered by namespace and key (of one namespace, keys starting with ``prefix``)."""
    stmt = sa.select(StateStoreEntry).where(_live(utcnow())).order_by(StateStoreEntry.namespace, StateStoreEntry.key)
    if namespace is not None:
        stmt = stmt.where(StateStoreEntry.namespace == namespace)
    else:  # dagflow's own bookkeeping (the scheduler's plan marker) is not the users' data
        stmt = stmt.where(StateStoreEntry.namespace != INTERNAL_NAMESPACE)
    if prefix:
        # substr, not LIKE: exact and case-sensitive on both SQLite and PostgreSQL.
        stmt = stmt.where(sa.func.substr(StateStoreEntry.key, 1, len(prefix)) == prefix)
    yield from session.scalars(stmt)


def list_keys(session: Session, *, namespace: str, prefix: str = "") -> list[str]:
    """The live keys of ``namespace`` starting with ``prefix``, sorted."""
    return [e.key for e in list_entries(session, namespace=namespace, prefix=prefix)]


class StateStore:
    """The state store on a database: each call is its own transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str, *, namespace: str = DEFAULT_NAMESPACE, default: Any = None) -> Any:
        """The stored value, or ``default``."""
        with self.db.transaction(readonly=True) as session:
            return get_value(session, key, namespace=namespace, default=default)

    def get_versioned(self, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> tuple[Any, int]:
        """``(value, version)`` or ``(None, 0)``."""
        with self.db.transaction(readonly=True) as session:
            return get_versioned(session, key, namespace=namespace)

    def set(
        self,
        key: str,
        value: Any,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        expected_version: int | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Store a JSON value; the new version (see ``set_value``)."""
        with self.db.transaction() as session:
            return set_value(
                session, key, value, namespace=namespace, expected_version=expected_version, expires_at=expires_at
            )

    def keys(self, *, namespace: str = DEFAULT_NAMESPACE, prefix: str = "") -> list[str]:
        """Live keys of a namespace starting with ``prefix``."""
        with self.db.transaction(readonly=True) as session:
            return list_keys(session, namespace=namespace, prefix=prefix)

    def delete(self, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> bool:
        """Delete a key; True if it existed."""
        with self.db.transaction() as session:
            return delete_value(session, key, namespace=namespace)

    def list(self, *, namespace: str | None = None) -> list[tuple[str, str, Any]]:
        """``(namespace, key, value)`` triples, ordered."""
        with self.db.transaction() as session:
            return [(e.namespace, e.key, e.value) for e in list_entries(session, namespace=namespace)]
