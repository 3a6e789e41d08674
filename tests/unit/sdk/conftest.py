"""Fakes for SDK and operator tests: a task instance with in-memory XCom, and a runtime backend."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pendulum
import pytest

from dagflow.exceptions import DagRunAlreadyExists, StateStoreConflict
from dagflow.sdk import runtime
from dagflow.sdk.abstractoperator import AbstractOperator


class FakeBackend:
    """An in-memory ``RuntimeBackend``: XComs, state store, triggers, approvals, external states."""

    def __init__(self) -> None:
        self.xcoms: dict[tuple[str, int, str], Any] = {}
        self.mapped: dict[str, int] = {}
        self.store: dict[tuple[str, str], Any] = {}
        self.versions: dict[tuple[str, str], int] = {}
        self.triggered: list[dict[str, Any]] = []
        self.resets: list[tuple[str, str]] = []
        self.run_states: dict[tuple[str, str], str] = {}
        self.decisions: dict[str, tuple[str, str | None]] = {}
        self.external: dict[tuple[str, str | None], list[str]] = {}
        self.variables: dict[str, Any] = {}

    def xcom_push(self, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        self.xcoms[(task_id, map_index, key)] = value

    def xcom_pull(self, *, dag_id: str, run_id: str, task_ids: str | Sequence[str], key: str, map_indexes: Any) -> Any:
        if isinstance(task_ids, str):
            return self._one(task_ids, key)
        return [self._one(t, key) for t in task_ids]

    def _one(self, task_id: str, key: str) -> Any:
        if task_id in self.mapped:
            return [self.xcoms.get((task_id, i, key)) for i in range(self.mapped[task_id])]
        return self.xcoms.get((task_id, -1, key))

    def get_variable(self, key: str, *, deserialize_json: bool = False) -> Any:
        return self.variables[key]

    def get_connection(self, conn_id: str) -> Mapping[str, Any]:
        return {"conn_type": "fake"}

    def state_get(self, key: str, *, namespace: str, default: Any) -> Any:
        return self.store.get((namespace, key), default)

    def state_set(
        self,
        key: str,
        value: Any,
        *,
        namespace: str,
        expected_version: int | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        version = self.versions.get((namespace, key), 0)
        if expected_version is not None and expected_version != version:
            raise StateStoreConflict(f"{namespace}/{key} is at version {version}, expected {expected_version}")
        self.store[(namespace, key)] = value
        self.versions[(namespace, key)] = version + 1
        return version + 1

    def state_get_versioned(self, key: str, *, namespace: str) -> tuple[Any, int]:
        return self.store.get((namespace, key)), self.versions.get((namespace, key), 0)

    def state_list(self, *, namespace: str, prefix: str) -> list[str]:
        return sorted(k for ns, k in self.store if ns == namespace and k.startswith(prefix))

    def state_delete(self, key: str, *, namespace: str) -> None:
        self.store.pop((namespace, key), None)
        self.versions.pop((namespace, key), None)

    def trigger_dag(
        self, dag_id: str, *, run_id: str | None, conf: Mapping[str, Any] | None, logical_date: datetime | None
    ) -> str:
        run_id = run_id or f"manual__{len(self.triggered)}"
        if any(t["dag_id"] == dag_id and t["run_id"] == run_id for t in self.triggered):
            raise DagRunAlreadyExists(f"DAG {dag_id!r} already has a run {run_id!r}")  # as the DB backend
        self.triggered.append({"dag_id": dag_id, "run_id": run_id, "conf": conf, "logical_date": logical_date})
        self.run_states.setdefault((dag_id, run_id), "success")
        return run_id

    def reset_dag_run(self, dag_id: str, *, run_id: str | None, logical_date: datetime | None) -> str:
        found = next(t["run_id"] for t in self.triggered if t["dag_id"] == dag_id and t["run_id"] == run_id)
        self.resets.append((dag_id, found))
        return str(found)

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        return self.run_states.get((dag_id, run_id))

    def external_task_states(self, dag_id: str, task_id: str | None, *, logical_date: datetime) -> list[str]:
        return list(self.external.get((dag_id, task_id), []))

    def approval(self, *, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[str, str | None] | None:
        return self.decisions.get(task_id)


class FakeTI:
    """A ``RuntimeTaskInstance`` stand-in whose XComs live in a ``FakeBackend``."""

    def __init__(self, backend: FakeBackend, task_id: str = "t", map_index: int = -1, **extra: Any) -> None:
        self.backend = backend
        self.dag_id = extra.pop("dag_id", "d")
        self.run_id = extra.pop("run_id", "manual__2024-03-05")
        self.task_id = task_id
        self.map_index = map_index
        self.try_number = extra.pop("try_number", 1)
        self.max_tries = 0
        self.first_poke_at: datetime | None = extra.pop("first_poke_at", None)
        for name, value in extra.items():
            setattr(self, name, value)

    def xcom_push(self, key: str, value: Any) -> None:
        self.backend.xcom_push(
            dag_id=self.dag_id, run_id=self.run_id, task_id=self.task_id, map_index=self.map_index, key=key, value=value
        )

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        key: str = "return_value",
        map_indexes: Any = None,
        dag_id: str | None = None,
        default: Any = None,
    ) -> Any:
        value = self.backend.xcom_pull(
            dag_id=self.dag_id, run_id=self.run_id, task_ids=task_ids or self.task_id, key=key, map_indexes=map_indexes
        )
        return default if value is None else value


def make_context(
    backend: FakeBackend, task: AbstractOperator | None = None, map_index: int = -1, **extra: Any
) -> dict[str, Any]:
    """A task context like the execution layer builds (the keys the SDK reads)."""
    logical_date = pendulum.datetime(2024, 3, 5, tz="UTC")
    task_id = task.task_id if task is not None else "t"
    ti_extra = {k: extra.pop(k) for k in ("first_poke_at", "try_number", "run_id") if k in extra}
    ti = FakeTI(backend, task_id, map_index, **ti_extra)
    context: dict[str, Any] = {
        "dag": task.dag if task is not None else None,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "run_id": ti.run_id,
        "logical_date": logical_date,
        "ds": "2024-03-05",
        "ds_nodash": "20240305",
        "data_interval_start": logical_date,
        "data_interval_end": logical_date,
        "params": task.dag.params.resolve() if task is not None and task.dag is not None else {},
        "try_number": ti.try_number,
        "map_index": map_index,
    }
    context.update(extra)
    return context


@pytest.fixture
def backend() -> Iterator[FakeBackend]:
    """A fresh ``FakeBackend`` installed as the runtime for the test."""
    fake = FakeBackend()
    with runtime.installed(fake):
        yield fake


@pytest.fixture
def make_ctx(backend: FakeBackend) -> Any:
    """``make_ctx(task=None, map_index=-1, **extra)``: a context wired to the test's backend."""

    def factory(task: AbstractOperator | None = None, map_index: int = -1, **extra: Any) -> dict[str, Any]:
        return make_context(backend, task, map_index, **extra)

    return factory
