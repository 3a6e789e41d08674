"""The inline executor: each submitted workload runs to the end inside ``submit``.

Used by ``dagflow dags test`` and by tests (``dagflow.testing``). With ``fork=True``
(the default) every try still runs in its own process group, so timeouts kill whole
process trees. ``dag_cache`` is where the runner finds DAG objects (default: the
process-wide warm cache, which imports DAG files).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagflow.execution.runner import run_workload
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database
    from dagflow.execution.dag_cache import DagCache


class InlineExecutor(BaseExecutor):
    """Runs every workload synchronously through ``run_workload``."""

    runs_inline = True
    settings: Settings  # always given to this executor
    holds_tries_in_memory = True

    def __init__(
        self,
        settings: Settings,
        *,
        db: Database | None = None,
        parallelism: int | None = None,
        fork: bool = True,
        dag_cache: DagCache | None = None,
    ) -> None:
        super().__init__(settings, db=db, parallelism=1)
        self.fork = fork
        self.dag_cache = dag_cache
        self._events: list[TaskEvent] = []

    def submit(self, workload: TaskWorkload) -> None:
        """Run ``workload`` now; its event is returned by the next ``poll()``."""
        outcome = run_workload(workload, self.settings, db=self.db, fork=self.fork, dag_cache=self.dag_cache)
        self._events.append(TaskEvent.from_outcome(outcome))

    def poll(self) -> list[TaskEvent]:
        """The events of the workloads run since the last poll."""
        events, self._events = self._events, []
        return events
