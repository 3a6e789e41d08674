"""State-store services for people (``dagflow state-store``): get, set, delete, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dagflow.db import Database
from dagflow.exceptions import NotFound
from dagflow.models import StateStoreEntry
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


def set_value(db: Database, key: str, value: Any, *, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Store a JSON value under ``namespace``/``key`` (replacing any previous one)."""
    ensure_schema(db)
    with db.transaction() as session:
        store.set_value(session, key, value, namespace=namespace)
        events.record(session, "set_state_store", extra={"namespace": namespace, "key": key})


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


def list_values(db: Database, *, namespace: str | None = None) -> list[StateStoreRecord]:
    """Every entry (of one namespace when given), by namespace and key."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return [
            StateStoreRecord(e.namespace, e.key, e.value, e.updated_at)
            for e in store.list_entries(session, namespace=namespace)
        ]


def get_entry(db: Database, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> StateStoreRecord:
    """One entry with its value and when it changed; ``StateStoreKeyNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        entry = session.get(StateStoreEntry, (namespace, key))
        if entry is None:
            raise StateStoreKeyNotFound(f"state store key {key!r} not found in namespace {namespace!r}")
        return StateStoreRecord(entry.namespace, entry.key, entry.value, entry.updated_at)
