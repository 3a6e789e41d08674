"""The state store service: JSON values by (namespace, key) that outlive a run.

Used by the runtime backend (``dagflow.state_store.state_store`` inside tasks) and by
the CLI (``dagflow state-store``). Writes are upserts, safe against concurrent writers
on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

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


def get_value(session: Session, key: str, *, namespace: str, default: Any = None) -> Any:
    """The stored value, or ``default``."""
    row = session.get(StateStoreEntry, (namespace, key))
    return default if row is None else row.value


def set_value(session: Session, key: str, value: Any, *, namespace: str) -> None:
    """Insert or replace a value (one statement, no race)."""
    check_json(value, what=f"state store value {namespace}/{key}")
    table = StateStoreEntry.__table__
    row = {"namespace": namespace, "key": key, "value": value, "updated_at": utcnow()}
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        module = sqlite if dialect == "sqlite" else postgresql
        stmt = module.insert(table).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["namespace", "key"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
        session.execute(stmt)
        return
    existing = session.get(StateStoreEntry, (namespace, key))
    if existing is None:
        session.add(StateStoreEntry(**row))
    else:
        existing.value, existing.updated_at = value, row["updated_at"]


def delete_value(session: Session, key: str, *, namespace: str) -> bool:
    """Delete a key; True if it existed."""
    result = session.execute(
        sa.delete(StateStoreEntry).where(StateStoreEntry.namespace == namespace, StateStoreEntry.key == key)
    )
    return int(result.rowcount) > 0  # type: ignore[attr-defined]


def list_entries(session: Session, *, namespace: str | None = None) -> Iterator[StateStoreEntry]:
    """Entries ordered by namespace and key (of one namespace when given)."""
    stmt = sa.select(StateStoreEntry).order_by(StateStoreEntry.namespace, StateStoreEntry.key)
    if namespace is not None:
        stmt = stmt.where(StateStoreEntry.namespace == namespace)
    yield from session.scalars(stmt)


class StateStore:
    """The state store on a database: each call is its own transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, key: str, *, namespace: str = DEFAULT_NAMESPACE, default: Any = None) -> Any:
        """The stored value, or ``default``."""
        with self.db.transaction() as session:
            return get_value(session, key, namespace=namespace, default=default)

    def set(self, key: str, value: Any, *, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Store a JSON value."""
        with self.db.transaction() as session:
            set_value(session, key, value, namespace=namespace)

    def delete(self, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> bool:
        """Delete a key; True if it existed."""
        with self.db.transaction() as session:
            return delete_value(session, key, namespace=namespace)

    def list(self, *, namespace: str | None = None) -> list[tuple[str, str, Any]]:
        """``(namespace, key, value)`` triples, ordered."""
        with self.db.transaction() as session:
            return [(e.namespace, e.key, e.value) for e in list_entries(session, namespace=namespace)]
