"""The seam through which task code reaches the metadata DB without importing it.

The SDK never imports SQLAlchemy. While a try runs, the task runner installs a
``RuntimeBackend`` (implemented in ``dagflow.execution``) with ``install()``; XCom pulls,
the state store, variables, connections, TriggerDagRun, ExternalTaskSensor and approvals
all go through it. Outside a running task ``current()`` raises a clear error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from dagflow.exceptions import DagflowError


class NoRuntimeError(DagflowError, RuntimeError):
    """Task-runtime features were used outside a running task."""


class RuntimeBackend(Protocol):
    """What task code may ask of the running system; one instance per try."""

    # XCom -----------------------------------------------------------------------------
    def xcom_push(self, *, dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
        """Store one XCom value (large values go to internal storage transparently)."""

    def xcom_pull(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_ids: str | Sequence[str],
        key: str,
        map_indexes: int | Sequence[int] | None,
    ) -> Any:
        """Values of an XCom key. For a single task id: the value, or for a mapped task
        the list over its map indexes; for a list of task ids: a list. Missing -> None."""

    # Variables and connections ---------------------------------------------------------
    def get_variable(self, key: str, *, deserialize_json: bool = False) -> Any:
        """A Variable's value; raises ``VariableNotFound`` when missing."""

    def get_connection(self, conn_id: str) -> Mapping[str, Any]:
        """A Connection as a mapping (conn_type, host, port, login, password, schema, extra, uri)."""

    # State store ------------------------------------------------------------------------
    def state_get(self, key: str, *, namespace: str, default: Any) -> Any:
        """A value from the state store, or ``default``."""

    def state_set(
        self,
        key: str,
        value: Any,
        *,
        namespace: str,
        expected_version: int | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        """Store a JSON value in the state store (outlives the run); returns the new version.
        With ``expected_version`` it is a compare-and-set (``StateStoreConflict`` on a mismatch)."""

    def state_get_versioned(self, key: str, *, namespace: str) -> tuple[Any, int]:
        """``(value, version)`` from the state store, or ``(None, 0)``."""

    def state_list(self, *, namespace: str, prefix: str) -> list[str]:
        """The keys of ``namespace`` starting with ``prefix``, sorted."""

    def state_delete(self, key: str, *, namespace: str) -> None:
        """Delete a key from the state store (no error if missing)."""

    # Other DAGs -------------------------------------------------------------------------
    def trigger_dag(
        self,
        dag_id: str,
        *,
        run_id: str | None,
        conf: Mapping[str, Any] | None,
        logical_date: datetime | None,
    ) -> str:
        """Create a manual run of another DAG; returns its run id."""

    def reset_dag_run(self, dag_id: str, *, run_id: str | None, logical_date: datetime | None) -> str:
        """Clear every task instance of an existing run of another DAG (by run id, else logical
        date) and queue it again; returns its run id (``DagRunNotFound`` if there is none)."""

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a DAG run, or None if it does not exist."""

    def external_task_states(self, dag_id: str, task_id: str | None, *, logical_date: datetime) -> list[str]:
        """States of the matching task instances (or the run's state if task_id is None)."""

    # Approvals (ApprovalOperator) -------------------------------------------------------
    def approval(self, *, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[str, str | None] | None:
        """``("approved"|"rejected", comment)`` once a person decided, else None."""


_backend: RuntimeBackend | None = None


def current() -> RuntimeBackend:
    """The installed backend; raises ``NoRuntimeError`` outside a running task."""
    if _backend is None:
        raise NoRuntimeError(
            "this needs a running task (XCom, state store, variables and connections are "
            "available inside tasks; use the `dagflow` CLI outside them)"
        )
    return _backend


def install(backend: RuntimeBackend | None) -> None:
    """Install (or with None remove) the backend for this process."""
    global _backend
    _backend = backend


@contextmanager
def installed(backend: RuntimeBackend) -> Iterator[RuntimeBackend]:
    """Install ``backend`` for the duration of a ``with`` block, restoring the previous one."""
    previous = _backend
    install(backend)
    try:
        yield backend
    finally:
        install(previous)
