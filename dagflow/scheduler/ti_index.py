"""A DAG run's task-instance snapshots indexed for the planner: per task and state, with positions.

The planner's questions about a run (how many upstream task instances finished in each
state, which task instances of a task are still ``none``, which wait for a retry) are
answered by walking every snapshot when they come as a list: 10 000 of them for one
mapped task. ``TIIndex`` answers them from sets kept per task and state, and is updated
in place when a row changes (``put``), so a scheduler that keeps one per run between
ticks plans in time proportional to what changed, not to the size of the run.
``WorkingStates`` is one planner pass's view of an index: the decisions of the pass
overlay it (they cascade inside the pass) without changing it.

Order is part of the planner's output: an index lists task instances in the order they
were first put (the order of the snapshot list it was built from).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from dagflow.state import WAITING, TaskInstanceState

TI = TaskInstanceState
TIKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TISnapshot:
    """What the planner needs to know about one existing task instance."""

    task_id: str
    map_index: int = -1
    state: TaskInstanceState = TI.NONE
    try_number: int = 0
    max_tries: int = 0
    next_try_at: datetime | None = None

    @property
    def key(self) -> TIKey:
        """``(task_id, map_index)``."""
        return (self.task_id, self.map_index)


class TIIndex:
    """A run's task instances by task and state (see the module docstring); ``put`` keeps it current."""

    def __init__(self, snapshots: Iterable[TISnapshot] = ()) -> None:
        self._by_task: dict[str, dict[int, TISnapshot]] = {}
        self._by_state: dict[str, dict[TaskInstanceState, set[int]]] = {}
        self._position: dict[TIKey, int] = {}
        self._waiting: set[TIKey] = set()
        self._counts: dict[str, Counter[TaskInstanceState]] = {}  # built on demand, dropped by ``put``
        for snapshot in snapshots:
            self.put(snapshot)

    def put(self, ti: TISnapshot) -> None:
        """Add a task instance, or replace the one with its key (which keeps its position)."""
        entries = self._by_task.setdefault(ti.task_id, {})
        self._counts.pop(ti.task_id, None)
        old = entries.get(ti.map_index)
        if old is None:
            self._position[ti.key] = len(self._position)
        else:
            self._by_state[ti.task_id][old.state].discard(ti.map_index)
            self._waiting.discard(ti.key)
        entries[ti.map_index] = ti
        self._by_state.setdefault(ti.task_id, {}).setdefault(ti.state, set()).add(ti.map_index)
        if ti.state in WAITING:
            self._waiting.add(ti.key)

    def __len__(self) -> int:
        return len(self._position)

    def __iter__(self) -> Iterator[TISnapshot]:
        """Every task instance, in order."""
        return iter(self._snapshots(self._position))

    def get(self, key: TIKey) -> TISnapshot | None:
        """The task instance with this key, if any."""
        return self._by_task.get(key[0], {}).get(key[1])

    def task_ids(self) -> Iterable[str]:
        """The task ids with at least one task instance."""
        return self._by_task.keys()

    def entries(self, task_id: str) -> Mapping[int, TISnapshot]:
        """One task's task instances by map index."""
        return self._by_task.get(task_id, {})

    def counts(self, task_id: str) -> Counter[TaskInstanceState]:
        """How many of one task's task instances are in each state (read-only: shared until the next ``put``).

        Kept per task: a pass asks each task's counts once per downstream task and again
        for the run's state, so building them anew each time was most of planning a wide run.
        """
        counts = self._counts.get(task_id)
        if counts is None:
            states = self._by_state.get(task_id, {})
            counts = self._counts[task_id] = Counter({state: len(ids) for state, ids in states.items() if ids})
        return counts

    def indexes_in(self, task_id: str, state: TaskInstanceState) -> list[int]:
        """One task's map indexes in ``state``, in order."""
        found = self._by_state.get(task_id, {}).get(state, ())
        return sorted(found, key=lambda index: self._position[(task_id, index)])

    def waiting(self) -> list[TISnapshot]:
        """The task instances waiting for a retry or a reschedule, in order."""
        return self._snapshots(self._waiting)

    def in_order(self, keys: Iterable[TIKey]) -> list[TIKey]:
        """``keys`` (all in the index) sorted by position."""
        return sorted(keys, key=self._position.__getitem__)

    def _snapshots(self, keys: Iterable[TIKey]) -> list[TISnapshot]:
        return [self._by_task[task_id][index] for task_id, index in self.in_order(keys)]


#: Marks a key the planner pass deleted (an expanded placeholder).
_DELETED = None


class WorkingStates:
    """One planner pass's states: the index plus the pass's decisions, which never change the index."""

    def __init__(self, index: TIIndex) -> None:
        self.index = index
        self._overlay: dict[str, dict[int, TaskInstanceState | None]] = {}

    def get(self, key: TIKey) -> TaskInstanceState | None:
        """The state of ``key`` in this pass (None if there is no such task instance)."""
        overlay = self._overlay.get(key[0], {})
        if key[1] in overlay:
            return overlay[key[1]]
        base = self.index.get(key)
        return None if base is None else base.state

    def set(self, key: TIKey, state: TaskInstanceState) -> None:
        """Decide a state for ``key`` (a new key is added after the existing ones)."""
        self._overlay.setdefault(key[0], {})[key[1]] = state

    def delete(self, key: TIKey) -> None:
        """``key`` no longer exists in this pass."""
        self._overlay.setdefault(key[0], {})[key[1]] = _DELETED

    def counts(self, task_id: str) -> Counter[TaskInstanceState]:
        """How many of one task's task instances are in each state, in this pass (read-only)."""
        overlay = self._overlay.get(task_id)
        if not overlay:
            return self.index.counts(task_id)
        counts = Counter(self.index.counts(task_id))
        for index, state in overlay.items():
            base = self.index.get((task_id, index))
            if base is not None:
                counts[base.state] -= 1
            if state is not _DELETED:
                counts[state] += 1
        return +counts

    def indexes_in(self, task_id: str, state: TaskInstanceState) -> list[int]:
        """One task's map indexes in ``state`` in this pass: existing ones in order, then new ones."""
        overlay = self._overlay.get(task_id, {})
        existing = [i for i in self.index.indexes_in(task_id, state) if i not in overlay]
        existing += [i for i, s in overlay.items() if s is state and self.index.get((task_id, i)) is not None]
        if len(existing) > 1 and overlay:
            existing = [key[1] for key in self.index.in_order((task_id, i) for i in existing)]
        return existing + [i for i, s in overlay.items() if s is state and self.index.get((task_id, i)) is None]

    def has(self, key: TIKey) -> bool:
        """True if ``key`` exists in this pass."""
        return self.get(key) is not None
