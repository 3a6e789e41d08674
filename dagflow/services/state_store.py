"""State-store services for people (``dagflow state-store``): get, set, delete, list."""

from __future__ import annotations

from typing import Any

from dagflow.db import Database
from dagflow.exceptions import NotFound
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


def delete_value(db: Database, key: str, *, namespace: str = DEFAULT_NAMESPACE) -> None:
    """Delete a key; ``StateStoreKeyNotFound`` if it was not there."""
    ensure_schema(db)
    with db.transaction() as session:
        if not store.delete_value(session, key, namespace=namespace):
            raise StateStoreKeyNotFound(f"state store key {key!r} not found in namespace {namespace!r}")


def list_values(db: Database, *, namespace: str | None = None) -> list[dict[str, Any]]:
    """Every entry (of one namespace when given) as ``{"namespace", "key", "value"}``."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return [
            {"namespace": e.namespace, "key": e.key, "value": e.value}
            for e in store.list_entries(session, namespace=namespace)
        ]
