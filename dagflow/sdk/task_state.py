"""``context["task_state_store"]``: values kept per task instance across its tries (Airflow 3's task state store).

A try that fails after starting external work stores a handle (``set("job_id", ...)``);
the retry reads it back and reattaches instead of starting the work again. The values live
in dagflow's state store, under the task instance's identity, through the task runtime.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from dagflow.sdk import runtime

#: The state-store namespace holding every task instance's values.
NAMESPACE = "task_state"
_MAX_KEY = 512


class TaskStateStore:
    """The state of one task instance (dag, run, task, map index): ``get``, ``set``, ``delete``."""

    def __init__(self, dag_id: str, run_id: str, task_id: str, map_index: int) -> None:
        self._prefix = f"{dag_id}/{run_id}/{task_id}/{map_index}/"

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"task state keys are non-empty strings, got {key!r}")
        full = self._prefix + key
        if len(full) > _MAX_KEY:  # very long ids: a digest keeps the key unique and in bounds
            full = hashlib.sha256(self._prefix.encode()).hexdigest() + "/" + key
        return full

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` by this or an earlier try, or ``default``."""
        return runtime.current().state_get(self._key(key), namespace=NAMESPACE, default=default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        """Store a JSON value under ``key`` (``None`` is refused). ``retention`` is accepted; values are kept
        until deleted (dagflow does not expire them)."""
        if value is None:
            raise ValueError("Cannot set value as None")
        runtime.current().state_set(self._key(key), value, namespace=NAMESPACE)

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is missing)."""
        runtime.current().state_delete(self._key(key), namespace=NAMESPACE)

    async def aget(self, key: str, default: Any = None) -> Any:
        """``get`` for async task code."""
        return self.get(key, default)

    async def aset(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        """``set`` for async task code."""
        self.set(key, value, retention=retention)

    async def adelete(self, key: str) -> None:
        """``delete`` for async task code."""
        self.delete(key)

    def __repr__(self) -> str:
        return f"<TaskStateStore {self._prefix.rstrip('/')}>"
