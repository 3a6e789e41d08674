"""The scheduled task instances of the runs this scheduler keeps, in queue order, kept between ticks.

The queueing step's candidates query sorts every scheduled task instance of every running
run to return twice the free slots: 10 000 rows per tick for one mapped run of 10 000
task instances, of which a handful are queued. ``QueueCursor`` keeps, for each run that
``KnownTIs`` keeps (``ti_reads.py``: the large runs), its scheduled rows sorted in the
order of ``queueing.queue_order``, one sorted list per pool, and is told what may have
changed the way ``KnownTIs`` is:

- a run read in full by ``KnownTIs`` (new, notified, or its last full read too old) or
  made stale (another writer, created or expanded rows) is read again in full: its
  scheduled rows, through the ``(dag_id, run_id, state)`` index;
- the rows named by this scheduler's executor events and written by its plans are read
  again by primary key: a row that is scheduled enters (or moves), any other leaves;
- the rows it queues leave; a run ``KnownTIs`` forgets is dropped.

These reads happen in the queueing transaction (``refresh``), so they see the plans of the
same tick. The cursor is used only when it accounts for every scheduled row: the number of
scheduled task instances in the database (one count over the ``(state, pool)`` index)
must equal the number it holds, else the queueing step falls back to the candidates query
(a small run, which ``KnownTIs`` does not keep, has scheduled rows; another scheduler or
process scheduled or queued rows). The candidates it yields are then read by primary key
with every filter of the candidates query, so a row that moved since is left out (and
every run is read again in full next time).

A merge (``CursorWindows``) walks the runs' lists in queue order, dropping a DAG or a pool
once it is full, as the candidates query leaves them out; a tick touches the rows it
returns and the rows that changed, not every scheduled row.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import DagModel, DagRun, TaskInstance
from dagflow.scheduler.run_lifecycle import unpaused_or_backfill
from dagflow.state import DagRunState, TaskInstanceState

RunKey = tuple[str, str]
#: A row's place in the queue order (``queueing.queue_order``), its id last so keys are unique.
QueueKey = tuple[Any, ...]

#: Primary keys per ``IN`` list of a read by id.
IDS_PER_READ = 500
#: Task instances in the kept runs below which the candidates query is used: sorting a
#: thousand scheduled rows in SQL costs less than the cursor's own reads (its run states,
#: the rows by id, the count, the runnable runs), which mapped1000 paid on every step
#: (scheduler CPU per task 0.95 -> 1.26 ms on a quiet machine) while mapped10k gains.
MIN_KEPT_TIS = 2500

_TIS = TaskInstance.__table__
_ROW_COLUMNS = (
    _TIS.c.id,
    _TIS.c.pool,
    _TIS.c.priority_tier,
    _TIS.c.priority_weight,
    _TIS.c.map_index,
)
_READ_RUN = sa.select(*_ROW_COLUMNS).where(
    _TIS.c.dag_id == sa.bindparam("dag_id"),
    _TIS.c.run_id == sa.bindparam("run_id"),
    _TIS.c.state == TaskInstanceState.SCHEDULED.value,
)
_READ_IDS = sa.select(_TIS.c.dag_id, _TIS.c.run_id, _TIS.c.state, *_ROW_COLUMNS).where(
    _TIS.c.id.in_(sa.bindparam("ids", expanding=True))
)
_COUNT_SCHEDULED = sa.select(sa.func.count()).select_from(_TIS).where(_TIS.c.state == TaskInstanceState.SCHEDULED.value)
_RUN_STATES = sa.select(DagRun.id, DagRun.state).where(DagRun.id.in_(sa.bindparam("run_pks", expanding=True)))
_RUNS_TO_QUEUE = (
    sa.select(DagRun.id)
    .join(DagModel, DagModel.dag_id == DagRun.dag_id)
    .where(
        DagRun.id.in_(sa.bindparam("run_pks", expanding=True)),
        DagRun.state == DagRunState.RUNNING,
        unpaused_or_backfill(),
    )
)


def queue_key(
    *, older_runs_first: bool, tier: int, logical_date: datetime, weight: int, map_index: int, ti_id: int
) -> QueueKey:
    """The sort key of one scheduled row: ``queueing.queue_order`` in Python."""
    if older_runs_first:
        return (-tier, logical_date, -weight, map_index, ti_id)
    return (-weight, logical_date, map_index, ti_id)


@dataclass
class _Run:
    """One run's scheduled rows: per pool a list of queue keys in order, and each row's pool and key by id."""

    pk: int
    logical_date: datetime
    size: int = 0  # task instances of the run when it was last read in full
    by_pool: dict[str, list[QueueKey]] = field(default_factory=dict)
    rows: dict[int, tuple[str, QueueKey]] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)
    full: bool = True  # read every scheduled row again before use

    def key(self, older_runs_first: bool, *, tier: int, weight: int, map_index: int, ti_id: int) -> QueueKey:
        """The queue key of one of this run's rows."""
        return queue_key(
            older_runs_first=older_runs_first,
            tier=tier,
            logical_date=self.logical_date,
            weight=weight,
            map_index=map_index,
            ti_id=ti_id,
        )

    def put(self, ti_id: int, pool: str, key: QueueKey) -> None:
        self.remove(ti_id)
        bisect.insort(self.by_pool.setdefault(pool, []), key)
        self.rows[ti_id] = (pool, key)

    def remove(self, ti_id: int) -> None:
        old = self.rows.pop(ti_id, None)
        if old is None:
            return
        pool, key = old
        keys = self.by_pool[pool]
        del keys[bisect.bisect_left(keys, key)]
        if not keys:
            del self.by_pool[pool]


class QueueCursor:
    """Per kept run, its scheduled rows in queue order (see the module docstring)."""

    def __init__(self, *, min_kept_tis: int | None = None) -> None:
        self._runs: dict[RunKey, _Run] = {}
        #: Below this many task instances in the kept runs the candidates query is used (``MIN_KEPT_TIS``).
        self.min_kept_tis = MIN_KEPT_TIS if min_kept_tis is None else min_kept_tis
        self._older_runs_first: bool | None = None

    # --- what the scheduler tells it (through ``KnownTIs``) --------------------------------
    def track(self, run: RunKey, *, pk: int, logical_date: datetime, size: int = 0) -> None:
        """Follow this run (again), of ``size`` task instances: its scheduled rows are read in full before the next use."""
        self._runs[run] = _Run(pk, logical_date, size)

    def changed(self, run: RunKey, ti_ids: Iterable[int]) -> None:
        """These rows of the run may have changed: read them again before the next use."""
        kept = self._runs.get(run)
        if kept is not None:
            kept.pending.update(ti_ids)

    def stale(self, run: RunKey) -> None:
        """Anything in this run may have changed: read it in full before the next use."""
        kept = self._runs.get(run)
        if kept is not None:
            kept.full = True

    def drop(self, run: RunKey | None = None) -> None:
        """Stop following one run, or every run."""
        if run is None:
            self._runs.clear()
        else:
            self._runs.pop(run, None)

    def queued(self, run: RunKey, ti_ids: Iterable[int]) -> None:
        """These rows of the run were queued: they leave."""
        kept = self._runs.get(run)
        if kept is not None:
            for ti_id in ti_ids:
                kept.remove(ti_id)

    def distrust(self) -> None:
        """A row yielded was not scheduled any more: read every run in full before the next use."""
        for kept in self._runs.values():
            kept.full = True

    def __len__(self) -> int:
        """Scheduled rows held."""
        return sum(len(kept.rows) for kept in self._runs.values())

    # --- the queueing step -------------------------------------------------------------------
    def windows(self, session: Session, *, older_runs_first: bool) -> CursorWindows | None:
        """Bring every run up to date in ``session``, and a merge over the runs to queue from, or None
        if the cursor does not hold every scheduled row (the caller reads candidates the slow way)."""
        if not self._runs:
            return None
        if sum(kept.size for kept in self._runs.values()) < self.min_kept_tis:
            for kept in self._runs.values():  # not kept up to date meanwhile: read in full once used
                kept.full, kept.pending = True, set()
            return None
        if older_runs_first is not self._older_runs_first:
            self._older_runs_first = older_runs_first
            self.distrust()
        self._drop_ended(session)
        self.refresh(session)
        if session.execute(_COUNT_SCHEDULED).scalar_one() != len(self):
            return None
        by_pk = {kept.pk: (run, kept) for run, kept in self._runs.items() if kept.rows}
        if not by_pk:
            return CursorWindows([])
        runnable = set(session.scalars(_RUNS_TO_QUEUE, {"run_pks": sorted(by_pk)}))
        lists = [
            (run[0], pool, keys)
            for pk, (run, kept) in by_pk.items()
            if pk in runnable
            for pool, keys in kept.by_pool.items()
        ]
        return CursorWindows(lists)

    def _drop_ended(self, session: Session) -> None:
        """Stop following the runs that ended or are gone (ended by another process or a timeout: no
        plan of this scheduler forgets them); a scheduled row left in one then sends queueing to SQL."""
        pks = {kept.pk: run for run, kept in self._runs.items()}
        states = {pk: state for pk, state in session.execute(_RUN_STATES, {"run_pks": sorted(pks)})}
        for pk, run in pks.items():
            if states.get(pk) not in (DagRunState.RUNNING, DagRunState.QUEUED):
                del self._runs[run]

    def refresh(self, session: Session) -> None:
        """Read the runs to read in full and the rows that may have changed (in the caller's transaction)."""
        connection = session.connection()
        older = bool(self._older_runs_first) if self._older_runs_first is not None else True
        pending: dict[int, RunKey] = {}
        for run, kept in self._runs.items():
            if kept.full:
                kept.by_pool, kept.rows, kept.pending, kept.full = {}, {}, set(), False
                rows = connection.execute(_READ_RUN, {"dag_id": run[0], "run_id": run[1]})
                for ti_id, pool, tier, weight, map_index in rows:
                    key = kept.key(older, tier=tier, weight=weight, map_index=map_index, ti_id=ti_id)
                    kept.by_pool.setdefault(pool, []).append(key)
                    kept.rows[ti_id] = (pool, key)
                for keys in kept.by_pool.values():
                    keys.sort()
            else:
                pending.update((ti_id, run) for ti_id in kept.pending)
                kept.pending = set()
        ids = sorted(pending)
        for start in range(0, len(ids), IDS_PER_READ):
            found: set[int] = set()
            for dag_id, run_id, state, ti_id, pool, tier, weight, map_index in connection.execute(
                _READ_IDS, {"ids": ids[start : start + IDS_PER_READ]}
            ):
                found.add(ti_id)
                kept = self._runs[pending[ti_id]]
                if (dag_id, run_id) != pending[ti_id]:  # cannot happen: ids are not reused
                    kept.full = True
                elif state == TaskInstanceState.SCHEDULED.value:
                    key = kept.key(older, tier=tier, weight=weight, map_index=map_index, ti_id=ti_id)
                    kept.put(ti_id, pool, key)
                else:
                    kept.remove(ti_id)
            for ti_id in ids[start : start + IDS_PER_READ]:
                if ti_id not in found:  # deleted
                    self._runs[pending[ti_id]].remove(ti_id)


class CursorWindows:
    """A merge of the runs' sorted lists in queue order, consumed window by window."""

    def __init__(self, lists: Sequence[tuple[str, str, list[QueueKey]]]) -> None:
        # heap entries: (head key, list number, position); a list's dag and pool by its number
        self._lists = list(lists)
        self._heap = [(keys[0], number, 0) for number, (_, _, keys) in enumerate(self._lists) if keys]
        heapq.heapify(self._heap)

    def next(self, limit: int, *, full_dags: Collection[str], full_pools: Collection[str]) -> list[int]:
        """The ids of the next ``limit`` rows in queue order, leaving out full DAGs and pools (for good:
        within one queueing step a full DAG or pool stays full)."""
        ids: list[int] = []
        heap = self._heap
        while heap and len(ids) < limit:
            key, number, position = heap[0]
            dag_id, pool, keys = self._lists[number]
            if dag_id in full_dags or pool in full_pools:
                heapq.heappop(heap)
                continue
            ids.append(key[-1])
            if position + 1 < len(keys):
                heapq.heapreplace(heap, (keys[position + 1], number, position + 1))
            else:
                heapq.heappop(heap)
        return ids
