"""``scheduled -> queued`` across every running run, under all the concurrency limits at once.

Grouped queries read what already occupies slots (queued + running per pool, per DAG,
per task), then the candidates are read (scheduled task instances of running runs of
unpaused DAGs, and of backfill runs even when the DAG is paused; in the order of
``queue_order``) in windows sized by the free slots, and a pure pass picks what fits:

- the executor's free slots (``core.parallelism``);
- pools: ``Pool.slots`` against the ``pool_slots`` of queued + running task instances
  (a task instance naming a pool that does not exist waits, with a warning);
- ``max_active_tasks`` per DAG (across its runs);
- ``max_active_tis_per_dag`` per task (across runs and map indexes);
- ``max_active_tis_per_dagrun`` per task and run (map indexes included, as Airflow);
- ``max_active_tasks`` of a ``TaskGroup`` (flow groups), per run: the group's task
  instances (mapped ones and those of nested groups included) that are queued or running
  in that run.

The windows come from ``queue_cursor.QueueCursor`` instead (the scheduled rows of the runs
the scheduler keeps, already in that order) whenever it holds every scheduled row: the
same rows, read by id, without sorting them all each tick.

A candidate whose task finishes without running (``SerializedTask.finishes_without_running``:
an ``EmptyOperator`` with no callbacks, outlets or inlets, as Airflow) is not queued: it
moves ``scheduled -> success`` in the same step, holds no slot and counts against no limit
(``finish_without_running``).

The chosen ids move in one compare-and-set; on PostgreSQL the candidates are locked
``FOR UPDATE SKIP LOCKED`` so several schedulers never queue the same task instance,
and the whole step runs under an advisory lock (``locking.critical_section``) so the
limits above hold across schedulers: each counts what the previous one committed.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.execution.logs import NOT_RUN_BY_SCHEDULER
from dagflow.execution.workload import TaskWorkload, workload_for
from dagflow.models import DagModel, DagRun, Pool, TaskInstance, TaskInstanceHistory
from dagflow.models.pool import UNLIMITED_SLOTS
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.dag_store import CachedDag, SerializedDagStore
from dagflow.scheduler.locking import QUEUEING_LOCK, critical_section, is_postgresql, skip_locked_if
from dagflow.scheduler.queue_cursor import QueueCursor
from dagflow.scheduler.run_lifecycle import unpaused_or_backfill
from dagflow.state import OCCUPYING_SLOT, DagRunState, TaskInstanceState

log = logging.getLogger(__name__)
TI = TaskInstanceState


@dataclass(frozen=True)
class Candidate:
    """A scheduled task instance that may be queued (plain values, no ORM object)."""

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    pool: str
    pool_slots: int
    queue: str
    priority_weight: int
    max_active_tasks: int | None


@dataclass
class Occupancy:
    """Slots already taken by queued and running task instances."""

    pools: Counter[str]
    dags: Counter[str]
    tasks: Counter[tuple[str, str]]
    pool_sizes: Mapping[str, int]
    #: Queued + running task instances per ``(dag_id, run_id, task_id)`` (for the per-run group limits).
    run_tasks: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def queue_task_instances(
    session: Session,
    store: SerializedDagStore,
    *,
    slots: int,
    now: datetime,
    max_per_query: int,
    default_max_active_tasks: int,
    job_id: int | None = None,
    older_runs_first: bool = True,
    cursor: QueueCursor | None = None,
    finished: list[Candidate] | None = None,
    finish_empty: bool = True,
) -> list[TaskWorkload]:
    """Queue what fits (see the module docstring) and return the workloads to submit.

    ``cursor``: the scheduled rows this scheduler keeps in queue order (``queue_cursor.py``);
    the candidates come from it when it holds every scheduled row, else from the
    candidates query. The queued rows leave it. Candidates that finish without running are
    marked ``success`` and added to ``finished`` (unless ``finish_empty`` is false:
    ``scheduler.finish_empty_operators``); they leave the cursor too.
    """
    if slots <= 0:
        return []
    critical_section(session, QUEUEING_LOCK)  # several schedulers: one counts and queues at a time
    empty: list[Candidate] | None = [] if finish_empty else None
    chosen = choose(
        session,
        store,
        slots=slots,
        max_per_query=max_per_query,
        default_max_active_tasks=default_max_active_tasks,
        older_runs_first=older_runs_first,
        cursor=cursor,
        empty=empty,
    )
    done = finish_without_running(session, empty or [], now=now)
    if finished is not None:
        finished.extend(done)
    if cursor is not None:
        for run, ti_ids in _by_run(done).items():
            cursor.queued(run, ti_ids)  # they left ``scheduled``
    if not chosen:
        return []
    set_ti_state(
        session,
        [c.ti_id for c in chosen],
        to=TI.QUEUED,
        expected=[TI.SCHEDULED],
        values={"queued_at": now, "queued_by_job_id": job_id, "requeue_count": 0},  # re-sends count per queueing
        synchronize=False,
    )
    if cursor is not None:
        for run, ti_ids in _by_run(chosen).items():
            cursor.queued(run, ti_ids)
    return [workload_for(c, ti_id=c.ti_id) for c in chosen]


def choose(
    session: Session,
    store: SerializedDagStore,
    *,
    slots: int,
    max_per_query: int,
    default_max_active_tasks: int,
    older_runs_first: bool = True,
    cursor: QueueCursor | None = None,
    empty: list[Candidate] | None = None,
) -> list[Candidate]:
    """The scheduled task instances to queue, in order (reads only; ``queue_task_instances`` moves them).

    Reads candidates in windows of twice the slots still free, leaving out the DAGs and
    pools that are full and the candidates already looked at; a further window only while
    slots are left and the last window was full (at most ``max_per_query`` candidates in
    all, as one big read did before). The windows come from the candidates query (SQL
    leaves out what is full or seen) or, when ``cursor`` holds every scheduled row, from
    its merge (the same rows, read by id). A long function: the loop is the point.
    ``empty``: if given, the candidates that finish without running go there, not through
    the limits (they take no slot).
    """
    occupancy = _occupancy(session, None)
    dag_limits = _dag_limits(session, occupancy.dags, default_max_active_tasks)
    merge = cursor.windows(session, older_runs_first=older_runs_first) if cursor is not None else None
    chosen: list[Candidate] = []
    seen: list[int] = []
    while len(chosen) < slots and len(seen) < max_per_query:
        window = min(max_per_query - len(seen), max(slots - len(chosen), 1) * 2)
        full_dags = sorted(d for d, n in occupancy.dags.items() if n >= dag_limits.get(d, default_max_active_tasks))
        if merge is None:
            candidates = _candidates(
                session,
                limit=window,
                full_dags=full_dags,
                full_pools=_full_pools(occupancy),
                seen=seen,
                older_runs_first=older_runs_first,
            )
            exhausted = len(candidates) < window
        else:
            ids = merge.next(window, full_dags=full_dags, full_pools=_full_pools(occupancy))
            candidates = _candidates_by_id(session, ids)
            exhausted = len(ids) < window
            if len(candidates) < len(ids) and cursor is not None:
                cursor.distrust()  # a row it held moved unannounced: read every run again next time
        if not candidates and exhausted:
            break
        seen.extend(c.ti_id for c in candidates)
        dags = store.get_many(session, {c.dag_id for c in candidates})
        for c in candidates:
            dag_limits.setdefault(c.dag_id, _limit(c.max_active_tasks, default_max_active_tasks))
        if empty is not None:
            empty += [c for c in candidates if _finishes_without_running(c, dags)]
            candidates = [c for c in candidates if not _finishes_without_running(c, dags)]
        chosen += pick(
            candidates, dags, occupancy, slots=slots - len(chosen), default_max_active_tasks=default_max_active_tasks
        )
        if exhausted:
            break
    return chosen


def _finishes_without_running(c: Candidate, dags: Mapping[str, CachedDag]) -> bool:
    entry = dags.get(c.dag_id)
    task = entry.dag.tasks.get(c.task_id) if entry is not None else None
    return task is not None and task.finishes_without_running


def finish_without_running(session: Session, candidates: Sequence[Candidate], *, now: datetime) -> list[Candidate]:
    """Mark these scheduled task instances ``success`` as a finished first try would end; those that moved.

    One compare-and-set from ``scheduled`` (the queueing one's: on PostgreSQL the rows are
    locked by the candidates read), ``try_number`` counted up as the claim of a try does,
    start = end = ``now``, duration 0, and the try's history row. No log file is written.
    """
    if not candidates:
        return []
    ids = [c.ti_id for c in candidates]
    values = {"start_date": now, "end_date": now, "duration": 0.0, "try_number": TaskInstance.try_number + 1}
    moved = set_ti_state(session, ids, to=TI.SUCCESS, expected=[TI.SCHEDULED], values=values, synchronize=False)
    if moved == 0:
        return []
    done = candidates
    if moved != len(candidates):  # another writer moved some first: keep the ones this step ended
        ended = set(
            session.scalars(
                sa.select(TaskInstance.id).where(
                    TaskInstance.id.in_(ids), TaskInstance.state == TI.SUCCESS, TaskInstance.end_date == now
                )
            )
        )
        done = [c for c in candidates if c.ti_id in ended]
    history = [
        {
            "ti_id": c.ti_id,
            "dag_id": c.dag_id,
            "run_id": c.run_id,
            "task_id": c.task_id,
            "map_index": c.map_index,
            "try_number": c.try_number + 1,
            "state": TI.SUCCESS,
            "start_date": now,
            "end_date": now,
            "duration": 0.0,
            "reason": NOT_RUN_BY_SCHEDULER,  # the log views show it (no log file exists)
            "recorded_at": now,
        }
        for c in done
    ]
    session.connection().execute(sa.insert(TaskInstanceHistory.__table__), history)
    return list(done)


def _by_run(candidates: Iterable[Candidate]) -> dict[tuple[str, str], list[int]]:
    runs: dict[tuple[str, str], list[int]] = {}
    for c in candidates:
        runs.setdefault((c.dag_id, c.run_id), []).append(c.ti_id)
    return runs


def _limit(value: int | None, default: int) -> int:
    return value if value is not None else default


def _dag_limits(session: Session, busy: Counter[str], default: int) -> dict[str, int]:
    """``max_active_tasks`` of the DAGs that hold slots now (they are few)."""
    if not busy:
        return {}
    query = sa.select(DagModel.dag_id, DagModel.max_active_tasks).where(DagModel.dag_id.in_(sorted(busy)))
    return {dag_id: _limit(limit, default) for dag_id, limit in session.execute(query)}


def _full_pools(occupancy: Occupancy) -> list[str]:
    """Pools with no free slot (a candidate needs at least one)."""
    return sorted(
        name for name, size in occupancy.pool_sizes.items() if size != UNLIMITED_SLOTS and occupancy.pools[name] >= size
    )


def queue_order(*, older_runs_first: bool) -> tuple[Any, ...]:
    """The order in which scheduled task instances are queued (docs/scheduling.md).

    ``older_runs_first`` (``scheduler.older_runs_first``): priority tier, then the run's
    logical date, then the weight rule's total, so at equal explicit priority older runs
    finish first and within a run the critical path goes first. Else Airflow's order: the
    weight rule's total, then the logical date (with the default ``downstream`` rule every
    run's first task outranks any run's second).
    """
    if older_runs_first:
        first: tuple[Any, ...] = (
            TaskInstance.priority_tier.desc(),
            DagRun.logical_date,
            TaskInstance.priority_weight.desc(),
        )
    else:
        first = (TaskInstance.priority_weight.desc(), DagRun.logical_date)
    return (*first, TaskInstance.map_index, TaskInstance.id)


def _candidates_select() -> Any:
    """Scheduled task instances of running runs of unpaused DAGs (or backfills), as ``Candidate`` columns."""
    return (
        sa.select(
            TaskInstance.id,
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.try_number,
            TaskInstance.pool,
            TaskInstance.pool_slots,
            TaskInstance.queue,
            TaskInstance.priority_weight,
            DagModel.max_active_tasks,
        )
        .join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
        .join(DagModel, DagModel.dag_id == TaskInstance.dag_id)
        .where(TaskInstance.state == TI.SCHEDULED, DagRun.state == DagRunState.RUNNING, unpaused_or_backfill())
    )


@functools.lru_cache(maxsize=4)
def _candidates_statement(postgresql: bool, older_runs_first: bool) -> Any:
    """The candidates query, built once per dialect and order (``limit`` and the exclusions are parameters)."""
    query = (
        _candidates_select()
        .where(
            TaskInstance.dag_id.not_in(sa.bindparam("full_dags", expanding=True)),
            TaskInstance.pool.not_in(sa.bindparam("full_pools", expanding=True)),
            TaskInstance.id.not_in(sa.bindparam("seen", expanding=True)),
        )
        .order_by(*queue_order(older_runs_first=older_runs_first))
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )
    return skip_locked_if(postgresql, query, TaskInstance)  # several schedulers never queue the same TI


def _candidates(
    session: Session,
    *,
    limit: int,
    full_dags: Sequence[str] = (),
    full_pools: Sequence[str] = (),
    seen: Sequence[int] = (),
    older_runs_first: bool = True,
) -> list[Candidate]:
    statement = _candidates_statement(is_postgresql(session), older_runs_first)
    params = {"limit": limit, "full_dags": list(full_dags), "full_pools": list(full_pools), "seen": list(seen)}
    return [Candidate(*row) for row in session.execute(statement, params)]


@functools.lru_cache(maxsize=2)
def _candidates_by_id_statement(postgresql: bool) -> Any:
    """The candidates query for given ids (the cursor's): the same filters, no order, no limit."""
    query = _candidates_select().where(TaskInstance.id.in_(sa.bindparam("ids", expanding=True)))
    return skip_locked_if(postgresql, query, TaskInstance)


def _candidates_by_id(session: Session, ids: Sequence[int]) -> list[Candidate]:
    """The candidates among ``ids`` (those still scheduled in a running run), in the order of ``ids``."""
    if not ids:
        return []
    statement = _candidates_by_id_statement(is_postgresql(session))
    found = {row[0]: Candidate(*row) for row in session.execute(statement, {"ids": list(ids)})}
    return [found[ti_id] for ti_id in ids if ti_id in found]


def _occupancy(session: Session, dag_ids: Iterable[str] | None) -> Occupancy:
    """What queued + running task instances hold: one grouped read (they are few), one of the pools.

    ``dag_ids``: count per DAG and task only for these (None: every DAG).
    """
    wanted = None if dag_ids is None else set(dag_ids)
    pools: Counter[str] = Counter()
    tasks: Counter[tuple[str, str]] = Counter()
    dags: Counter[str] = Counter()
    run_tasks: Counter[tuple[str, str, str]] = Counter()
    for pool, dag_id, run_id, task_id, slots, count in session.execute(_busy_statement()):
        pools[pool] += int(slots or 0)
        if wanted is None or dag_id in wanted:
            tasks[(dag_id, task_id)] += int(count)
            dags[dag_id] += int(count)
            run_tasks[(dag_id, run_id, task_id)] += int(count)
    pool_sizes: dict[str, int] = {}
    for name, size, deferred in session.execute(_pools_statement()):
        pool_sizes[name] = size
        if deferred:
            pools[name] += int(deferred)
    return Occupancy(pools=pools, dags=dags, tasks=tasks, run_tasks=run_tasks, pool_sizes=pool_sizes)


@functools.lru_cache(maxsize=1)
def _busy_statement() -> Any:
    """Queued + running task instances grouped by pool, DAG, run and task (slots, count)."""
    return (
        sa.select(
            TaskInstance.pool,
            TaskInstance.dag_id,
            TaskInstance.run_id,
            TaskInstance.task_id,
            sa.func.sum(TaskInstance.pool_slots),
            sa.func.count(),
        )
        .where(TaskInstance.state.in_(list(OCCUPYING_SLOT)))
        .group_by(TaskInstance.pool, TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id)
    )


@functools.lru_cache(maxsize=1)
def _pools_statement() -> Any:
    """Every pool: its size, and the slots of its deferred task instances if it has ``include_deferred``.

    One read for both (other pools do not count deferred task instances); the sum is a
    correlated lookup on the ``(state, pool)`` index, made only for such pools.
    """
    deferred = (
        sa.select(sa.func.sum(TaskInstance.pool_slots))
        .where(TaskInstance.state == TaskInstanceState.DEFERRED, TaskInstance.pool == Pool.name)
        .scalar_subquery()
    )
    return sa.select(Pool.name, Pool.slots, sa.case((Pool.include_deferred.is_(True), deferred), else_=None))


def pick(
    candidates: Sequence[Candidate],
    dags: Mapping[str, CachedDag],
    occupancy: Occupancy,
    *,
    slots: int,
    default_max_active_tasks: int,
) -> list[Candidate]:
    """The candidates that fit every limit, in order (pure; updates ``occupancy``)."""
    chosen: list[Candidate] = []
    missing_pools: set[str] = set()
    groups = _group_occupancy(occupancy, dags)
    for c in candidates:
        if len(chosen) >= slots:
            break
        entry = dags.get(c.dag_id)
        if entry is None or c.task_id not in entry.dag.tasks:
            continue
        size = occupancy.pool_sizes.get(c.pool)
        if size is None:
            missing_pools.add(c.pool)
            continue
        if size != UNLIMITED_SLOTS and occupancy.pools[c.pool] + c.pool_slots > size:
            continue
        dag_limit = c.max_active_tasks if c.max_active_tasks is not None else default_max_active_tasks
        if occupancy.dags[c.dag_id] >= dag_limit:
            continue
        task = entry.dag.tasks[c.task_id]
        if (
            task.max_active_tis_per_dag is not None
            and occupancy.tasks[(c.dag_id, c.task_id)] >= task.max_active_tis_per_dag
        ):
            continue
        run_limit = task.max_active_tis_per_dagrun
        if run_limit is not None and occupancy.run_tasks[(c.dag_id, c.run_id, c.task_id)] >= run_limit:
            continue
        limits = entry.dag.group_limits(c.task_id)
        if any(groups[(c.dag_id, c.run_id, group_id)] >= limit for group_id, limit in limits):
            continue
        for group_id, _ in limits:
            groups[(c.dag_id, c.run_id, group_id)] += 1
        occupancy.run_tasks[(c.dag_id, c.run_id, c.task_id)] += 1
        occupancy.pools[c.pool] += c.pool_slots
        occupancy.dags[c.dag_id] += 1
        occupancy.tasks[(c.dag_id, c.task_id)] += 1
        chosen.append(c)
    for pool in sorted(missing_pools):
        log.warning("pool %r does not exist: its task instances stay scheduled", pool)
    return chosen


def _group_occupancy(occupancy: Occupancy, dags: Mapping[str, CachedDag]) -> Counter[tuple[str, str, str]]:
    """Queued + running task instances per ``(dag_id, run_id, group_id)`` of every limited task group."""
    groups: Counter[tuple[str, str, str]] = Counter()
    for (dag_id, run_id, task_id), count in occupancy.run_tasks.items():
        entry = dags.get(dag_id)
        if entry is None:
            continue
        for group_id, _ in entry.dag.group_limits(task_id):
            groups[(dag_id, run_id, group_id)] += count
    return groups
