"""The executor contract: everything the scheduler loop, the reaper and ``dags test`` may call.

An executor runs workloads somewhere and reports back ``TaskEvent``s. Frozen dataclasses
cross the boundary, never ORM objects. The DB stays the source of truth: an event only
tells the scheduler to look again sooner.

What the loop uses, and nothing else (no ``hasattr``, no ``isinstance`` on a kind):

- ``start()``, ``submit(workload)``, ``submit_many(workloads)`` (a tick's, which an executor
  may send together), ``poll() -> [TaskEvent]``, ``heartbeat()``, ``shutdown()``;
- ``wakeup``: an Event set when something ended, so the loop ticks at once;
- ``slots_free`` (how many more workloads may be submitted now), ``running`` (the tries
  in flight) and ``backlog`` (submitted, waiting for a worker);
- ``held_tries()``: the tries the executor vouches for. An executor that holds its
  tries in this process's memory (``holds_tries_in_memory``) reports a lost try as an
  event (a dead worker), so the reaper never treats them as stuck in ``queued``; a broker
  can lose a message, so the Celery executor vouches for none;
- ``runs_inline``: ``submit`` runs the try to its end before it returns (the loop looks
  again at once instead of waiting for an event);
- ``logs_on_workers``: a try's log stays on the worker that ran it; readers fetch it
  from that worker's log server (``services/task_logs.py``).

Executors are found by name (``core.executor``) in the ``dagflow.executors`` entry-point
group (``executors/registry.py``); every executor takes ``(settings, *, db=None,
parallelism=None)``.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from dagflow.execution.workload import TaskEvent, TaskWorkload

__all__ = ["BaseExecutor", "TaskEvent", "drain"]

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database


class BaseExecutor(ABC):
    """Runs workloads somewhere; ``parallelism`` bounds how many at once."""

    #: A lost try shows up as an event (a dead worker), never as a silent loss.
    holds_tries_in_memory: ClassVar[bool] = False
    #: ``submit`` runs the try to its end before it returns.
    runs_inline: ClassVar[bool] = False
    #: A try's log is written on the worker that ran it, which serves it (``execution.log_server``).
    logs_on_workers: ClassVar[bool] = False

    def __init__(
        self, settings: Settings | None = None, *, db: Database | None = None, parallelism: int | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        default = settings.core.parallelism if settings is not None else 1
        self.parallelism = max(parallelism or default, 1)
        self.running: set[tuple[int, int]] = set()
        self.wakeup = threading.Event()

    @property
    def slots_free(self) -> int:
        """How many more workloads may be submitted now."""
        return max(self.parallelism - len(self.running), 0)

    @property
    def backlog(self) -> int:
        """Workloads submitted that wait for a free worker."""
        return 0

    def held_tries(self) -> frozenset[tuple[int, int]]:
        """The ``(ti_id, try_number)`` tries this executor vouches for (see the module doc)."""
        return frozenset(self.running) if self.holds_tries_in_memory else frozenset()

    def start(self) -> None:
        """Start workers, if the executor has any (idempotent)."""

    @abstractmethod
    def submit(self, workload: TaskWorkload) -> None:
        """Start (or enqueue) ``workload``."""

    def submit_many(self, workloads: list[TaskWorkload]) -> None:
        """Start (or enqueue) ``workloads``, the ones a tick queued; an executor may send them together."""
        for workload in workloads:
            self.submit(workload)

    @abstractmethod
    def poll(self) -> list[TaskEvent]:
        """Events of workloads that ended since the last poll."""

    def heartbeat(self) -> None:
        """Called once per scheduler tick: replace dead workers, reconcile, and so on."""

    def shutdown(self) -> None:
        """Stop accepting work and release workers."""

    def _track(self, workload: TaskWorkload) -> None:
        self.running.add((workload.ti_id, workload.try_number))

    def _untrack(self, event: TaskEvent) -> None:
        self.running.discard((event.ti_id, event.try_number))


def drain(events: queue.SimpleQueue[Any]) -> list[Any]:
    """Everything waiting in ``events`` now, without blocking."""
    items: list[Any] = []
    while True:
        try:
            items.append(events.get_nowait())
        except queue.Empty:
            return items
