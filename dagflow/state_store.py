"""``state_store``: JSON values that outlive a run, by key and namespace, with versions and expiry.

Inside a task it goes through the runtime backend the runner installs. Outside a task
(a script or a notebook with ``DAGFLOW_HOME`` set) it opens the metadata database from
the settings itself. The CLI has ``dagflow state-store`` for the same store.

Every key has a version: 1 when created, +1 on each write. ``set(..., expected_version=n)``
is a compare-and-set (0 means "must not exist"): it raises ``StateStoreConflict`` if
another writer got there first, so a read-modify-write loop never loses an update::

    while True:
        count, version = state_store.get_versioned("counter")
        try:
            state_store.set("counter", (count or 0) + 1, expected_version=version)
            break
        except StateStoreConflict:
            continue
"""

from __future__ import annotations

import builtins
import os
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dagflow.exceptions import InvalidInput
from dagflow.sdk import runtime

if TYPE_CHECKING:
    from dagflow.storage.state_store import StateStore as DatabaseStateStore

DEFAULT_NAMESPACE = "default"


class StateStore:
    """Access to the state store from task code and from plain Python."""

    def get(self, key: str, namespace: str = DEFAULT_NAMESPACE, default: Any = None) -> Any:
        """The value under ``key`` in ``namespace``, or ``default`` (missing or expired)."""
        if (backend := _runtime()) is not None:
            return backend.state_get(_key(key), namespace=_namespace(namespace), default=default)
        return _script_store().get(_key(key), namespace=_namespace(namespace), default=default)

    def get_versioned(self, key: str, namespace: str = DEFAULT_NAMESPACE) -> tuple[Any, int]:
        """``(value, version)``, or ``(None, 0)`` when the key is missing or expired."""
        if (backend := _runtime()) is not None:
            return backend.state_get_versioned(_key(key), namespace=_namespace(namespace))
        return _script_store().get_versioned(_key(key), namespace=_namespace(namespace))

    def set(
        self,
        key: str,
        value: Any,
        namespace: str = DEFAULT_NAMESPACE,
        expected_version: int | None = None,
        ttl: float | timedelta | None = None,
    ) -> int:
        """Store a JSON value (or a storage URI) under ``key``; returns the new version (1 for a new key).

        With ``expected_version`` the write happens only if the stored version matches
        (0: the key must not exist), else ``StateStoreConflict``. ``ttl`` (seconds or a
        timedelta) makes the key expire; an expired key reads as missing.
        """
        from dagflow.storage.state_store import expires_at_for

        expires_at = expires_at_for(ttl)
        if (backend := _runtime()) is not None:
            return backend.state_set(
                _key(key),
                value,
                namespace=_namespace(namespace),
                expected_version=expected_version,
                expires_at=expires_at,
            )
        return _script_store().set(
            _key(key), value, namespace=_namespace(namespace), expected_version=expected_version, expires_at=expires_at
        )

    def delete(self, key: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Remove ``key`` from ``namespace`` (no error if it is missing)."""
        if (backend := _runtime()) is not None:
            backend.state_delete(_key(key), namespace=_namespace(namespace))
        else:
            _script_store().delete(_key(key), namespace=_namespace(namespace))

    def list(self, prefix: str = "", namespace: str = DEFAULT_NAMESPACE) -> builtins.list[str]:
        """The keys of ``namespace`` that start with ``prefix``, sorted (expired keys left out)."""
        if not isinstance(prefix, str):
            raise InvalidInput(f"prefix must be a string, got {type(prefix).__name__}")
        if (backend := _runtime()) is not None:
            return backend.state_list(namespace=_namespace(namespace), prefix=prefix)
        return _script_store().keys(namespace=_namespace(namespace), prefix=prefix)

    def __repr__(self) -> str:
        return "<state_store>"


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"state store keys are non-empty strings, got {key!r}")
    return key


def _namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not namespace:
        raise ValueError(f"state store namespaces are non-empty strings, got {namespace!r}")
    return namespace


def _runtime() -> runtime.RuntimeBackend | None:
    try:
        return runtime.current()
    except runtime.NoRuntimeError:
        return None


_lock = threading.Lock()
_stores: dict[tuple[int, str], DatabaseStateStore] = {}


def _script_store() -> DatabaseStateStore:
    """Outside a task: the store on the database configured by ``DAGFLOW_HOME`` (one per process and home)."""
    from dagflow.config import load_settings
    from dagflow.db import Database
    from dagflow.services.database import ensure_schema
    from dagflow.storage.state_store import StateStore as DatabaseStateStore

    settings = load_settings()
    ident = (os.getpid(), settings.database.sql_alchemy_conn + "|" + str(settings.home))
    with _lock:
        store = _stores.get(ident)
        if store is None:
            db = Database(settings)
            ensure_schema(db)
            store = _stores[ident] = DatabaseStateStore(db)
    return store


state_store = StateStore()
