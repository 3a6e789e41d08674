"""State-store services for people (``dagflow state-store``): get, set, delete, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagflow.db import Database
from dagflow.exceptions import NotFound
from dagflow.models import StateStoreEntry
from dagflow.models.base import utcnow
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.storage import state_store as store

DEFAULT_NAMESPACE = store.DEFAULT_NAMESPACE


class StateStoreKeyNotFound(NotFound):
    """No value under that key in that namespace."""


def get_value(db: Database, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> Any:
    """The stored JSON value; ``StateStoreKeyNotFound`` if missing."""
    ensure_schema(db)
    marker = object()
    with db.transaction(readonly=True) as session:
        value = store.get_value(session, key, namespace=namespace, default=marker)
    if value is marker:
        raise StateStoreKeyNotFound(f"state store key {key!r} not found in namespace {namespace!r}")
    return value


def set_value(
    db: Database,
    key: str,
    value: Any,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    expected_version: int | None = None,
    ttl: float | timedelta | None = None,
) -> int:
    """Store a JSON value under ``namespace``/``key``; the new version.

    With ``expected_version`` a compare-and-set (``StateStoreConflict`` on a mismatch);
    ``ttl`` (seconds or a timedelta) makes the key expire.
    """
    ensure_schema(db)
    expires_at = store.expires_at_for(ttl)
    with db.transaction() as session:
        version = store.set_value(
            session, key, value, namespace=namespace, expected_version=expected_version, expires_at=expires_at
        )
        events.record(session, "set_state_store", extra={"namespace": namespace, "key": key, "version": version})
    return version


def delete_value(db: Database, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Delete a key; ``StateStoreKeyNotFound`` if it was not there."""
    ensure_schema(db)
    with db.transaction() as session:
        if not store.delete_value(session, key, namespace=namespace):
            raise StateStoreKeyNotFound(f"state store key {key!r} not found in namespace {namespace!r}")
        events.record(session, "delete_state_store", extra={"namespace": namespace, "key": key})


@dataclass(frozen=True)
class StateStoreRecord:
    """One stored value."""

    namespace: str
    key: str
    value: Any
    updated_at: datetime | None
    version: int = 1
    expires_at: datetime | None = None


def _record(e: StateStoreEntry) -> StateStoreRecord:
    return StateStoreRecord(e.namespace, e.key, e.value, e.updated_at, e.version, e.expires_at)


def list_values(db: Database, *, namespace: str | None = None, prefix: str = "") -> list[StateStoreRecord]:
    """Every live entry (of one namespace, keys starting with ``prefix``), by namespace and key."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return [_record(e) for e in store.list_entries(session, namespace=namespace, prefix=prefix)]


def get_entry(db: Database, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> StateStoreRecord:
    """One entry with its value and when it changed; ``StateStoreKeyNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        entry = session.get(StateStoreEntry, (namespace, key))
        if entry is None or (entry.expires_at is not None and entry.expires_at <= utcnow()):
            raise StateStoreKeyNotFound(f"state store key {key!r} not found in namespace {namespace!r}")
        return _record(entry)


def purge_expired(
    db: Database, *, before: datetime | None = None, namespace: str | None = None, dry_run: bool = False
) -> int:
    """Delete the rows of keys expired before ``before`` (default: now); how many (counted only with ``dry_run``)."""
    ensure_schema(db)
    cut_off = before or utcnow()
    with db.transaction(readonly=dry_run) as session:
        purged = store.purge_expired(session, before=cut_off, namespace=namespace, dry_run=dry_run)
        if purged and not dry_run:
            events.record(session, "purge_state_store", extra={"namespace": namespace, "rows": purged})
    return purged
