"""What crosses the executor boundary: the work to run and how it ended.

Both are frozen, plain and JSON-friendly, so they travel through a Celery broker or a
multiprocessing queue unchanged. Never an ORM object.

A workload names a task instance and the try to start, nothing more that a worker
trusts: the worker claims the try by compare-and-set on that key and reads the DAG file,
the run and the task from the row it claimed (``execution.claim``). ``queue``, ``pool``
and ``priority_weight`` only route and order the message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol

from dagflow.sdk.ids import check_key, check_run_id
from dagflow.state import TaskInstanceState


class TaskInstanceKeyed(Protocol):
    """Anything that names a task instance (a ``TaskInstance`` row, a ``TaskInstanceRecord``)."""

    @property
    def dag_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def map_index(self) -> int: ...


class NextTry(TaskInstanceKeyed, Protocol):
    """What ``workload_for`` reads: a ``TaskInstance`` row, or a plain copy of its columns."""

    @property
    def try_number(self) -> int: ...
    @property
    def queue(self) -> str: ...
    @property
    def pool(self) -> str: ...
    @property
    def priority_weight(self) -> int: ...


@dataclass(frozen=True)
class TaskWorkload:
    """Please run task instance ``ti_id``, try ``try_number`` (the try to start)."""

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    queue: str = "default"
    pool: str = "default_pool"
    priority_weight: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (for brokers and queues)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskWorkload:
        """The workload from ``to_dict()`` output, checked; ``ValueError`` if it is not one.

        Unknown keys are ignored; the ids must follow the id rule (``sdk.ids``) and the
        numbers must be integers, so a malformed message never reaches the database.
        """
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for name in ("ti_id", "map_index", "try_number", "priority_weight"):
            if name in values and (isinstance(values[name], bool) or not isinstance(values[name], int)):
                raise ValueError(f"workload field {name} must be an integer, got {values[name]!r}")
        workload = cls(**values)
        check_key("dag_id", workload.dag_id)
        check_key("task_id", workload.task_id)
        check_run_id(workload.run_id)
        return workload

    @property
    def key(self) -> str:
        """A readable key for logs: ``dag.task[map]@run#try``."""
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped}@{self.run_id}#{self.try_number}"


def workload_for(ti: NextTry, *, ti_id: int) -> TaskWorkload:
    """The workload of ``ti``'s next try (the one its ``queued`` state waits for)."""
    return TaskWorkload(
        ti_id=ti_id,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number + 1,
        queue=ti.queue,
        pool=ti.pool,
        priority_weight=ti.priority_weight,
    )


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
