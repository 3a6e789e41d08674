"""The executor interface: ``submit(workload)``, ``poll() -> events``, ``shutdown()``.

Frozen dataclasses cross it, never ORM objects. The DB stays the source of truth: an
event only tells the scheduler to look again sooner.
"""

from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from dagflow.execution.workload import TaskOutcome, TaskWorkload
from dagflow.state import TaskInstanceState


@dataclass(frozen=True)
class TaskEvent:
    """A workload ended (or could not start): task instance, try, state and a note."""

    ti_id: int
    try_number: int
    state: TaskInstanceState | None
    info: str | None = None

    @classmethod
    def from_outcome(cls, outcome: TaskOutcome) -> TaskEvent:
        """The event for a runner outcome."""
        info = outcome.reason if outcome.claimed else f"not claimed: {outcome.reason}"
        return cls(outcome.ti_id, outcome.try_number, outcome.state, info)


class BaseExecutor(ABC):
    """Runs workloads somewhere; ``parallelism`` bounds how many at once."""

    def __init__(self, parallelism: int = 1) -> None:
        self.parallelism = max(parallelism, 1)
        self.running: set[tuple[int, int]] = set()

    @property
    def slots_free(self) -> int:
        """How many more workloads may be submitted now."""
        return max(self.parallelism - len(self.running), 0)

    def start(self) -> None:
        """Start workers, if the executor has any."""

    @abstractmethod
    def submit(self, workload: TaskWorkload) -> None:
        """Start (or enqueue) ``workload``."""

    @abstractmethod
    def poll(self) -> list[TaskEvent]:
        """Events of workloads that ended since the last poll."""

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
