"""Reading a DAG run's task instances for a scheduling pass: in full, or only the rows that changed.

A pass over a mapped run of 10 000 task instances used to read all of them although a
tick changes a handful (``max_active_tasks`` of them end per tick). ``KnownTIs`` keeps,
per run, the rows as this scheduler last read them (a ``TIIndex`` the planner plans from
without walking it) and what it knows changed since, and ``load_tis`` reads only those
rows, by primary key:

- the rows named by this scheduler's own executor events (``ti_changed``);
- the rows its own plan wrote (``plan_applied``): the states it set are re-read, not
  assumed, since a write may set other columns too.

It reads the whole run instead when it cannot know what changed: no rows kept yet; the
run was notified by another process (``run_changed``: the PostgreSQL event listener, the
SQLite watcher, a run started or re-queued); this scheduler's reaper or deferral timeout
moved task instances (``forget``); a compare-and-set of its plan moved fewer rows than
planned (another writer was there); a plan created or expanded task instances; a row
read by key is gone, was never read or has a new key; or the last full read is older than
``FULL_READ_EVERY``. That last bound covers what nobody announces (on SQLite, a task
instance of a running run cleared or marked by another process; a try another scheduler
ran): it is seen within that time, as a full pass saw it within ``poll_interval``
before. A decision that ends a run is made from a full read (``schedule_run``).

Without a ``KnownTIs`` (tests, one-off passes) every read is a full read.

``KnownTIs.queue`` (``queue_cursor.py``) keeps the kept runs' scheduled rows in queue
order for the queueing step; it is told what changed through the same calls.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

from dagflow.models import DagRun, TaskInstance
from dagflow.models.base import ti_state_of
from dagflow.scheduler.planner import RunPlan
from dagflow.scheduler.queue_cursor import QueueCursor
from dagflow.scheduler.ti_index import TIIndex, TIKey, TISnapshot
from dagflow.serialization.objects import SerializedDag
from dagflow.state import TaskInstanceState

RunKey = tuple[str, str]

#: How old a run's last full read may get before the next pass reads it in full again.
#: Bounds how late an unannounced change is seen; a full read of 10 000 rows costs ~30 ms,
#: so at this interval it is well under 1 % of a busy scheduler's CPU.
FULL_READ_EVERY = timedelta(seconds=10)
#: Task instances kept in all (least recently planned runs are dropped beyond it; ~0.7 KB each).
MAX_KEPT_TIS = 50_000
#: Primary keys per ``IN`` list of a partial read.
IDS_PER_READ = 500


class TIRow(NamedTuple):
    """What the applier needs of an existing task instance: its id and the state the planner saw."""

    id: int
    state: TaskInstanceState


class LoadedTIs(NamedTuple):
    """A run's task instances for one pass: rows for the applier, an index for the planner."""

    rows: dict[TIKey, Any]
    tis: TIIndex
    complete: bool  # read in full in this pass (a run may end only on such a read)


#: The columns the planner and the applier read (plain rows: no ORM objects per tick).
_TI_COLUMNS = (
    TaskInstance.id,
    TaskInstance.task_id,
    TaskInstance.map_index,
    TaskInstance.state,
    TaskInstance.try_number,
    TaskInstance.max_tries,
    TaskInstance.next_try_at,
)
_TIS = TaskInstance.__table__
_SELECT = sa.select(*(_TIS.c[column.key] for column in _TI_COLUMNS))
_READ_RUN = _SELECT.where(_TIS.c.dag_id == sa.bindparam("dag_id"), _TIS.c.run_id == sa.bindparam("run_id"))
_READ_IDS = _SELECT.where(_TIS.c.id.in_(sa.bindparam("ids", expanding=True)))


@dataclass
class _KeptRun:
    """One run's task instances as last read, and what is known to have changed since."""

    loaded: LoadedTIs
    keys: dict[int, TIKey]
    full_read_at: datetime
    reread: set[int] = field(default_factory=set)
    stale: bool = False


class KnownTIs:
    """Per run, the task instances this scheduler last read and what it knows changed since (module docstring)."""

    def __init__(self, *, full_read_every: timedelta = FULL_READ_EVERY, max_tis: int = MAX_KEPT_TIS) -> None:
        self.full_read_every = full_read_every
        self.max_tis = max_tis
        self._runs: OrderedDict[RunKey, _KeptRun] = OrderedDict()
        self._kept_tis = 0
        #: The kept runs' scheduled rows in queue order, told what changed as the rows here are.
        self.queue = QueueCursor()

    def ti_changed(self, run: RunKey, ti_id: int) -> None:
        """This scheduler's executor reported on this task instance: read it again."""
        kept = self._runs.get(run)
        if kept is not None:
            kept.reread.add(ti_id)
            self.queue.changed(run, (ti_id,))

    def run_changed(self, run: RunKey) -> None:
        """Something else changed this run: read it in full next time."""
        kept = self._runs.get(run)
        if kept is not None:
            kept.stale = True
            self.queue.stale(run)

    def forget(self, run: RunKey | None = None) -> None:
        """Drop one run (finished), or every run (after a failed tick or unannounced own writes)."""
        self.queue.drop(run)
        if run is None:
            self._runs.clear()
            self._kept_tis = 0
        elif (kept := self._runs.pop(run, None)) is not None:
            self._kept_tis -= len(kept.keys)

    def plan_applied(self, run: RunKey, plan: RunPlan, rows: dict[TIKey, Any], moved: int) -> None:
        """After the applier wrote ``plan``: re-read what it moved, or everything if it missed or created rows."""
        kept = self._runs.get(run)
        if kept is None:
            return
        keys = (*plan.remove, *plan.skip, *plan.upstream_fail, *plan.schedule)
        if plan.create or plan.expand or moved != len(keys):
            kept.stale = True
            self.queue.stale(run)
        else:
            ids = [rows[key].id for key in keys]
            kept.reread.update(ids)
            self.queue.changed(run, ids)

    def usable(self, run: RunKey, now: datetime) -> _KeptRun | None:
        """The run's kept rows if a partial read may follow them (see the module docstring)."""
        kept = self._runs.get(run)
        if kept is None or kept.stale or not kept.full_read_at <= now < kept.full_read_at + self.full_read_every:
            return None
        self._runs.move_to_end(run)
        return kept

    def keep(self, run: DagRun, loaded: LoadedTIs, now: datetime) -> None:
        """Keep a full read of the run (the least recently planned runs go beyond ``max_tis``)."""
        key = (run.dag_id, run.run_id)
        self.forget(key)
        keys = {row.id: ti_key for ti_key, row in loaded.rows.items()}
        self._runs[key] = _KeptRun(loaded, keys, now)
        self.queue.track(key, pk=run.id, logical_date=run.logical_date, size=len(loaded.rows))
        self._kept_tis += len(keys)
        while self._kept_tis > self.max_tis and len(self._runs) > 1:
            dropped_key, dropped = self._runs.popitem(last=False)
            self._kept_tis -= len(dropped.keys)
            self.queue.drop(dropped_key)


def load_tis(session: Session, run: DagRun, *, known: KnownTIs | None = None, now: datetime | None = None) -> LoadedTIs:
    """The run's task instances, in the caller's transaction: only the changed rows when ``known`` allows."""
    key = (run.dag_id, run.run_id)
    kept = known.usable(key, now) if known is not None and now is not None else None
    if kept is not None and _read_changed(session, kept):
        return kept.loaded._replace(complete=False)
    loaded = _read_run(session, run)
    if known is not None and now is not None:
        known.keep(run, loaded, now)
    return loaded


def _read_changed(session: Session, kept: _KeptRun) -> bool:
    """Read the rows ``kept`` lists as changed into it; False if it must be read in full instead."""
    ids, kept.reread = sorted(kept.reread), set()
    found: set[int] = set()
    for start in range(0, len(ids), IDS_PER_READ):
        for values in session.connection().execute(_READ_IDS, {"ids": ids[start : start + IDS_PER_READ]}):
            row, snapshot = _entry(*values)
            if kept.keys.get(row.id) != snapshot.key:
                return False  # a row not read before, or with a new key (another scheduler created it)
            kept.loaded.rows[snapshot.key] = row
            kept.loaded.tis.put(snapshot)
            found.add(row.id)
    return len(found) == len(ids)  # a row that is gone: read the run again


def _entry(
    ti_id: int,
    task_id: str,
    map_index: int,
    state: TaskInstanceState,
    try_number: int,
    max_tries: int,
    next_try_at: datetime | None,
) -> tuple[TIRow, TISnapshot]:
    snapshot = TISnapshot(task_id, map_index, state, try_number, max_tries, next_try_at)
    return TIRow(ti_id, state), snapshot


@functools.lru_cache(maxsize=8)
def _run_reader(dialect: Dialect) -> tuple[str, tuple[str, ...] | None, Callable[[Any], Any], Callable[[Any], Any]]:
    """``_READ_RUN`` compiled for ``dialect`` (SQL, positional parameter names or None), and
    the state and ``next_try_at`` converters its raw values need."""
    compiled = _READ_RUN.compile(dialect=dialect)
    names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None

    def converter(column: Any) -> Callable[[Any], Any]:
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        return process if process is not None else (lambda value: value)

    return str(compiled), names, ti_state_of, converter(_TIS.c.next_try_at)  # the state: no TypeDecorator wrapper


def _read_run(session: Session, run: DagRun) -> LoadedTIs:
    """Every task instance of the run, read with the DB driver's own cursor.

    Plain tuples: no ORM or ``Row`` objects, which cost the scheduler ~25 ms per pass over
    a 1 000-task run.
    """
    connection = session.connection()
    sql, names, to_state, to_datetime = _run_reader(connection.dialect)
    params: Any = {"dag_id": run.dag_id, "run_id": run.run_id}
    if names is not None:
        params = tuple(params[name] for name in names)
    raw_rows = _fetch_raw(connection, sql, params)
    rows: dict[TIKey, Any] = {}
    index = TIIndex()
    for ti_id, task_id, map_index, state, try_number, max_tries, next_try_at in raw_rows:
        row, snapshot = _entry(
            ti_id, task_id, map_index, to_state(state), try_number, max_tries, to_datetime(next_try_at)
        )
        rows[snapshot.key] = row
        index.put(snapshot)
    return LoadedTIs(rows, index, complete=True)


def _fetch_raw(connection: Connection, sql: str, params: Any = None) -> list[Any]:
    """Every row of ``sql`` as the DB driver's plain tuples (its own cursor, on the session's connection)."""
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if params is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


#: Task instances a run may have to be read with others (``load_tis_of_runs``); larger runs are read alone.
SMALL_RUN_TASKS = 64


def load_tis_of_runs(
    session: Session,
    runs: Sequence[tuple[DagRun, SerializedDag]],
    *,
    known: KnownTIs | None = None,
    now: datetime | None = None,
) -> dict[int, LoadedTIs]:
    """``load_tis`` for many runs, by run primary key: one query for all the small ones.

    With thousands of running runs of small DAGs, one round trip per run was most of a
    full pass. A run is small when its DAG has no mapped task and at most
    ``SMALL_RUN_TASKS`` tasks; it is read in full (nothing kept: a small run is cheap to
    read). The others are read one by one with ``load_tis`` (partially when ``known`` allows).
    """
    small = {run.id for run, dag in runs if _is_small(dag)}
    loaded = {run.id: load_tis(session, run, known=known, now=now) for run, _ in runs if run.id not in small}
    if not small:
        return loaded
    connection = session.connection()
    _, _, to_state, to_datetime = _run_reader(connection.dialect)
    for run_pk in small:
        loaded[run_pk] = LoadedTIs({}, TIIndex(), complete=True)
    raw_rows = _fetch_raw(connection, _many_runs_sql(connection.dialect, sorted(small)))
    for run_pk, ti_id, task_id, map_index, state, try_number, max_tries, next_try_at in raw_rows:
        row, snapshot = _entry(
            ti_id, task_id, map_index, to_state(state), try_number, max_tries, to_datetime(next_try_at)
        )
        loaded[run_pk].rows[snapshot.key] = row
        loaded[run_pk].tis.put(snapshot)
    return loaded


def _is_small(dag: SerializedDag) -> bool:
    return len(dag.tasks) <= SMALL_RUN_TASKS and not any(task.is_mapped for task in dag.tasks.values())


def _many_runs_sql(dialect: Dialect, run_pks: Sequence[int]) -> str:
    """The task instances of these runs (by primary key), each row led by its run's key; ints rendered inline."""
    runs = DagRun.__table__
    query = (
        sa.select(runs.c.id, *(_TIS.c[column.key] for column in _TI_COLUMNS))
        .select_from(_TIS.join(runs, sa.and_(runs.c.dag_id == _TIS.c.dag_id, runs.c.run_id == _TIS.c.run_id)))
        .where(runs.c.id.in_([int(pk) for pk in run_pks]))
    )
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
