"""``state_store``: JSON values that outlive a run (``get``/``set``/``delete`` by key and namespace).

Inside a task it goes through the runtime backend the runner installs; the CLI has
``dagflow state-store`` for the same store. Nothing here imports the DB.
"""

from __future__ import annotations

from typing import Any

from dagflow.sdk import runtime

DEFAULT_NAMESPACE = "default"


class StateStore:
    """Access to the state store from task code."""

    def get(self, key: str, namespace: str = DEFAULT_NAMESPACE, default: Any = None) -> Any:
        """The value under ``key`` in ``namespace``, or ``default``."""
        return runtime.current().state_get(_key(key), namespace=namespace, default=default)

    def set(self, key: str, value: Any, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Store a JSON value (or a storage URI) under ``key`` in ``namespace``."""
        runtime.current().state_set(_key(key), value, namespace=namespace)

    def delete(self, key: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        """Remove ``key`` from ``namespace`` (no error if it is missing)."""
        runtime.current().state_delete(_key(key), namespace=namespace)

    def __repr__(self) -> str:
        return "<state_store>"


def _key(key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise ValueError(f"state store keys are non-empty strings, got {key!r}")
    return key


state_store = StateStore()
