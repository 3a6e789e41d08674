"""What crosses the executor boundary: the work to run and how it ended.

Both are frozen, plain and JSON-friendly, so they travel through a Celery broker or a
multiprocessing queue unchanged. Never an ORM object.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from dagflow.state import TaskInstanceState


@dataclass(frozen=True)
class TaskWorkload:
    """Please run task instance ``ti_id``, try ``try_number`` (the try to start)."""

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    fileloc: str
    queue: str = "default"
    pool: str = "default_pool"
    priority_weight: int = 1
    execution_timeout_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (for brokers and queues)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskWorkload:
        """The workload from ``to_dict()`` output; unknown keys are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def key(self) -> str:
        """A readable key for logs: ``dag.task[map]@run#try``."""
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped}@{self.run_id}#{self.try_number}"


@dataclass(frozen=True)
class TaskOutcome:
    """How one workload ended, as recorded in the DB.

    ``claimed`` is False when another worker (or a clear) won the ``queued -> running``
    compare-and-set; then ``state`` is the TI state observed, or None, and nothing ran.
    """

    ti_id: int
    try_number: int
    state: TaskInstanceState | None
    reason: str | None = None
    claimed: bool = True

    @property
    def finished_try(self) -> bool:
        """True if this worker ran the try and its outcome is recorded."""
        return self.claimed and self.state is not None
