"""``RuntimeTaskInstance``: ``context["ti"]`` in a running task (no ORM, no session).

It carries the identity and timing of the try and reaches XComs through the installed
``RuntimeBackend``, so task code never touches the database directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagflow.models.xcom import XCOM_RETURN_KEY

if TYPE_CHECKING:
    from dagflow.execution.claim import ClaimedTry
    from dagflow.sdk.runtime import RuntimeBackend


class RuntimeTaskInstance:
    """The task instance of the running try, as task code sees it."""

    state = "running"

    def __init__(
        self, claimed: ClaimedTry, *, task: Any, backend: RuntimeBackend, log_path: Path | None = None
    ) -> None:
        self.dag_id = claimed.dag_id
        self.task_id = claimed.task_id
        self.run_id = claimed.run_id
        self.map_index = claimed.map_index
        self.try_number = claimed.try_number
        self.max_tries = claimed.max_tries
        self.hostname = claimed.hostname
        self.start_date: datetime = claimed.start_date
        self.logical_date: datetime = claimed.run.logical_date
        self.first_poke_at: datetime | None = claimed.first_poke_at
        self.task = task
        self.log_path = log_path
        self._backend = backend

    def __repr__(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"<RuntimeTaskInstance {self.dag_id}.{self.task_id}{mapped} {self.run_id} try {self.try_number}>"

    @property
    def key(self) -> tuple[str, str, str, int]:
        """``(dag_id, run_id, task_id, map_index)``."""
        return (self.dag_id, self.run_id, self.task_id, self.map_index)

    @property
    def operator(self) -> str:
        """The task's class name."""
        return type(self.task).__name__

    def xcom_push(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` for later tasks (JSON; large values go to storage)."""
        self._backend.xcom_push(
            dag_id=self.dag_id, run_id=self.run_id, task_id=self.task_id, map_index=self.map_index, key=key, value=value
        )

    def xcom_pull(
        self,
        task_ids: str | Sequence[str] | None = None,
        key: str = XCOM_RETURN_KEY,
        map_indexes: int | Sequence[int] | None = None,
        dag_id: str | None = None,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """An XCom value (a list for a mapped task or a list of task ids); ``default`` if none.

        ``task_ids=None`` means this task itself.
        """
        value = self._backend.xcom_pull(
            dag_id=dag_id or self.dag_id,
            run_id=run_id or self.run_id,
            task_ids=self.task_id if task_ids is None else task_ids,
            key=key,
            map_indexes=map_indexes,
        )
        return default if value is None else value
