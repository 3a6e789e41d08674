"""``context["task_state_store"]`` and ``context["asset_state_store"]`` (Airflow 3's state stores).

The task state store keeps values per task instance across its tries; the asset state
store keeps values per asset (a watermark) for every task that reads or writes it.

A try that fails after starting external work stores a handle (``set("job_id", ...)``);
the retry reads it back and reattaches instead of starting the work again. The values live
in dagflow's state store, under the task instance's identity, through the task runtime.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
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
        self._namespace = NAMESPACE

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise ValueError(f"task state keys are non-empty strings, got {key!r}")
        full = self._prefix + key
        if len(full) > _MAX_KEY:  # very long ids: a digest keeps the key unique and in bounds
            full = hashlib.sha256(self._prefix.encode()).hexdigest() + "/" + key
        return full

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key`` by this or an earlier try, or ``default``."""
        return runtime.current().state_get(self._key(key), namespace=self._namespace, default=default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        """Store a JSON value under ``key`` (``None`` is refused). ``retention`` is accepted; values are kept
        until deleted (dagflow does not expire them)."""
        if value is None:
            raise ValueError("Cannot set value as None")
        runtime.current().state_set(self._key(key), value, namespace=self._namespace)

    def delete(self, key: str) -> None:
        """Remove ``key`` (no error if it is missing)."""
        runtime.current().state_delete(self._key(key), namespace=self._namespace)

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


#: The state-store namespace holding every asset's values.
ASSET_NAMESPACE = "asset_state"


class AssetStateStore(TaskStateStore):
    """The state of one asset (a watermark, a cursor), shared by every task that has it as inlet or outlet."""

    def __init__(self, uri: str) -> None:
        self._prefix = f"{uri}/"
        self._namespace = ASSET_NAMESPACE

    def __repr__(self) -> str:
        return f"<AssetStateStore {self._prefix.rstrip('/')}>"


class AssetStateStores:
    """``context["asset_state_store"]``: ``[asset]`` for each inlet and outlet of the task; with exactly
    one such asset, ``get``/``set``/``delete`` work on it directly."""

    def __init__(self, assets: Iterable[Any]) -> None:
        self._by_uri = {asset.uri: AssetStateStore(asset.uri) for asset in assets if hasattr(asset, "uri")}

    def __getitem__(self, asset: Any) -> AssetStateStore:
        uri = getattr(asset, "uri", None)
        if uri is None:
            raise TypeError(f"expected an Asset, got {type(asset).__name__}")
        try:
            return self._by_uri[uri]
        except KeyError:
            raise KeyError(f"{asset!r} is not one of this task's inlets or outlets") from None

    def _single(self) -> AssetStateStore:
        if len(self._by_uri) != 1:
            raise ValueError(
                f"the task has {len(self._by_uri)} inlet/outlet assets: use context['asset_state_store'][asset]"
            )
        return next(iter(self._by_uri.values()))

    def get(self, key: str, default: Any = None) -> Any:
        """``get`` on the task's only asset."""
        return self._single().get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        """``set`` on the task's only asset."""
        self._single().set(key, value, retention=retention)

    def delete(self, key: str) -> None:
        """``delete`` on the task's only asset."""
        self._single().delete(key)
