"""Scheduled DAG runs from timetables, and the ``next_dagrun*`` fields that make them cheap.

The ``dag`` row carries the next run's logical date, data interval and
``next_dagrun_create_after``; deciding which DAGs are due is one indexed query, never a
scan of the run history. The fields are (re)computed from the timetable when the
scheduler first sees a DAG version unpaused (one ``LIMIT 1`` query for the last
scheduled run), and advanced each time a run is created.

Several schedulers (PostgreSQL): a DAG's row is locked ``FOR UPDATE SKIP LOCKED`` while
its next-run fields are computed or its due runs created, so one scheduler does it.
A pass reads the dates already taken once for all its DAGs and inserts its runs, then
their task instances, in one statement each, in a savepoint: a manual trigger or a
backfill that took one of the dates in between undoes the batch, which is then made
run by run, so that costs that one run, not the tick (``locking.py``).

Catchup: with ``catchup=True`` every interval from the stored one on gets a run (as many
per tick as ``max_active_runs`` allows); with ``catchup=False`` a due DAG skips straight
to the latest complete interval, never going back before the stored one.

A pass creates at most ``MAX_RUNS_PER_PASS`` runs, oldest logical date first across the due
DAGs (every DAG's first run before any DAG's second; ties: the DAG due first), so a catchup
of thousands of runs is made in many short transactions, not one long one, and every DAG
has a run early; the DAGs it did not get to stay due and ``create_due_runs`` says so (the
loop comes back at once).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pendulum import DateTime
from sqlalchemy.orm import Session

from dagflow.models import DagModel, DagRun, SerializedDagModel, TaskInstance
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun, generate_run_id, task_instance_values
from dagflow.scheduler.locking import skip_locked, unless_exists
from dagflow.serialization import SerializedDag
from dagflow.state import DAGRUN_ACTIVE, DagRunState, DagRunTriggeredByType, DagRunType
from dagflow.timetables import DagRunInfo, DataInterval, TimeRestriction, Timetable, timetable_from_dict
from dagflow.timetables.base import to_utc


def timetable_of(dag: SerializedDag) -> Timetable | None:
    """The DAG's timetable, rebuilt from its serialized form (None: never scheduled)."""
    return timetable_from_dict(dict(dag.timetable)) if dag.timetable else None


def restriction_of(dag: SerializedDag, now: datetime) -> TimeRestriction:
    """start_date, end_date and catchup of ``dag`` at ``now``."""
    return TimeRestriction(
        earliest=_utc(dag.start_date), latest=_utc(dag.end_date), catchup=dag.catchup, now=to_utc(now)
    )


def _utc(value: datetime | None) -> DateTime | None:
    return None if value is None else to_utc(value)


def max_active_runs_of(dag: SerializedDag, timetable: Timetable | None) -> int:
    """``max_active_runs``, tightened by the timetable's own limit (``@continuous``: 1)."""
    limit = dag.max_active_runs
    if timetable is not None and timetable.active_runs_limit is not None:
        limit = min(limit, timetable.active_runs_limit)
    return max(limit, 0)


def refresh_next_dagruns(session: Session, store: SerializedDagStore, seen: dict[str, str], *, now: datetime) -> int:
    """Compute ``next_dagrun*`` for unpaused DAG versions not yet in ``seen`` (updated in place)."""
    query = (
        sa.select(DagModel.dag_id, SerializedDagModel.dag_hash)
        .join(SerializedDagModel, SerializedDagModel.dag_id == DagModel.dag_id)
        .where(DagModel.is_paused.is_(False), DagModel.is_active.is_(True))
    )
    current = {key: value for key, value in session.execute(query)}
    for dag_id in set(seen) - set(current):
        del seen[dag_id]  # paused or gone: recompute when it comes back
    changed = [dag_id for dag_id, digest in current.items() if seen.get(dag_id) != digest]
    if not changed:
        return 0
    # Another scheduler creating a run of one of these DAGs holds its row: next pass.
    locked = skip_locked(session, sa.select(DagModel).where(DagModel.dag_id.in_(changed)), DagModel)
    models = {model.dag_id: model for model in session.scalars(locked)}
    for dag_id, entry in store.get_many(session, list(models)).items():
        _store_next(models[dag_id], _first_info(session, entry.dag, now))
        seen[dag_id] = entry.dag_hash
    return len(models)


def _first_info(session: Session, dag: SerializedDag, now: datetime) -> DagRunInfo | None:
    timetable = timetable_of(dag)
    if timetable is None or not timetable.can_be_scheduled:
        return None
    last = session.execute(
        sa.select(DagRun.data_interval_start, DagRun.data_interval_end)
        .where(DagRun.dag_id == dag.dag_id, DagRun.run_type == DagRunType.SCHEDULED.value)
        .order_by(DagRun.logical_date.desc())
        .limit(1)
    ).first()
    interval = DataInterval(to_utc(last[0]), to_utc(last[1])) if last and last[0] and last[1] else None
    return timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction_of(dag, now))


def upcoming_runs(session: Session, dag: SerializedDag, *, now: datetime, count: int) -> list[DagRunInfo]:
    """The next ``count`` scheduled runs of ``dag`` after its latest scheduled run, as the scheduler would make them."""
    timetable = timetable_of(dag)
    info = _first_info(session, dag, now) if timetable is not None and timetable.can_be_scheduled else None
    found: list[DagRunInfo] = []
    while info is not None and len(found) < count:
        found.append(info)
        assert timetable is not None
        info = timetable.next_dagrun_info(
            last_automated_data_interval=info.data_interval,
            restriction=TimeRestriction(earliest=_utc(dag.start_date), latest=_utc(dag.end_date), catchup=True),
        )
    return found


def _store_next(model: DagModel, info: DagRunInfo | None) -> None:
    model.next_dagrun = info.logical_date if info else None
    model.next_dagrun_data_interval_start = info.data_interval.start if info else None
    model.next_dagrun_data_interval_end = info.data_interval.end if info else None
    model.next_dagrun_create_after = info.run_after if info else None


#: Runs one pass creates at most (the rest in the next passes: short transactions).
MAX_RUNS_PER_PASS = 100


def create_due_runs(
    session: Session, store: SerializedDagStore, *, now: datetime, limit: int = MAX_RUNS_PER_PASS
) -> list[DagRun]:
    """Create up to ``limit`` scheduled runs that are due at ``now``; advance each DAG's next-run fields.

    Each due DAG with room under its ``max_active_runs`` (``_has_room``) is locked
    (``SKIP LOCKED``): one scheduler per DAG per tick. When
    ``limit`` runs were created, more may be due: the caller should pass again soon.
    The dates already taken (a trigger, a backfill) are read in one query for all the due
    DAGs, and the new runs and their task instances are inserted in one statement each
    (``_insert_runs``), not run by run.
    """
    query = skip_locked(
        session,
        sa.select(DagModel)
        .where(
            DagModel.is_paused.is_(False),
            DagModel.is_active.is_(True),
            DagModel.next_dagrun_create_after <= now,
            _has_room(),
        )
        .order_by(DagModel.next_dagrun_create_after),
        DagModel,
    )
    models = list(session.scalars(query))
    if not models:
        return []
    dags = store.get_many(session, [m.dag_id for m in models])
    # Counted again, not taken from ``_has_room``'s count: that one is the locking read's
    # snapshot (only a filter), this read sees what another scheduler committed before it
    # released a DAG row this pass then locked, so the limit holds under READ COMMITTED.
    active = _active_run_counts(session, [m.dag_id for m in models])
    taken = _taken_dates(session, [m.dag_id for m in models if m.dag_id in dags])
    pending: list[_DueDag] = []
    for model in models:
        entry = dags.get(model.dag_id)
        if entry is None:
            continue
        timetable = timetable_of(entry.dag)
        if timetable is None or not timetable.can_be_scheduled:
            _store_next(model, None)
            continue
        limit_of_dag = max_active_runs_of(entry.dag, timetable)
        info = _due_info(model, entry.dag, timetable, now)
        pending.append(_DueDag(model, entry.dag, timetable, info, active.get(model.dag_id, 0), limit_of_dag))
    due = _oldest_first(pending, now=now, limit=limit, taken=taken)
    for dag_due in pending:
        _store_next(dag_due.model, dag_due.info)
    return _insert_runs(session, due, now=now)


@dataclass
class _DueDag:
    """One due DAG while a pass picks its runs: the next run not made yet (``info``) and its active runs."""

    model: DagModel
    dag: SerializedDag
    timetable: Timetable
    info: DagRunInfo | None
    active: int
    limit: int

    def head(self, now: datetime, taken: set[datetime]) -> DagRunInfo | None:
        """The next run to make (a date taken already is passed over, no slot used); None: none now."""
        while self.info is not None and self.info.run_after <= now and to_utc(self.info.logical_date) in taken:
            self._advance(now)
        if self.info is None or self.info.run_after > now or self.active >= self.limit:
            return None
        return self.info

    def take(self, now: datetime) -> None:
        """The head is made: one more active run, the next interval becomes the head."""
        self.active += 1
        self._advance(now)

    def _advance(self, now: datetime) -> None:
        assert self.info is not None
        self.info = self.timetable.next_dagrun_info(
            last_automated_data_interval=self.info.data_interval, restriction=restriction_of(self.dag, now)
        )


def _oldest_first(
    pending: list[_DueDag], *, now: datetime, limit: int, taken: Mapping[str, set[datetime]]
) -> list[tuple[SerializedDag, DagRunInfo]]:
    """Up to ``limit`` runs across the due DAGs, oldest logical date first (ties: the DAG due first).

    A catchup of many DAGs makes every DAG's first run before any DAG's second, so the
    first runs exist (and, queued oldest first, finish) early; one DAG at a time made
    ``limit`` runs of the first few DAGs in a pass and the last DAG's first run many passes later.
    Each DAG's next interval is computed only when its previous one is picked.
    """
    heap: list[tuple[datetime, int, DagRunInfo]] = []
    for order, dag_due in enumerate(pending):
        head = dag_due.head(now, taken[dag_due.model.dag_id])
        if head is not None:
            heap.append((to_utc(head.logical_date), order, head))
    heapq.heapify(heap)
    due: list[tuple[SerializedDag, DagRunInfo]] = []
    while heap and len(due) < limit:
        _, order, info = heapq.heappop(heap)
        dag_due = pending[order]
        due.append((dag_due.dag, info))
        dag_due.take(now)
        head = dag_due.head(now, taken[dag_due.model.dag_id])
        if head is not None:
            heapq.heappush(heap, (to_utc(head.logical_date), order, head))
    return due


def _has_room() -> sa.ColumnElement[bool]:
    """The DAG has fewer active (non-backfill) runs than its stored ``max_active_runs``.

    A DAG at its limit can make no run: it is neither locked nor read (its serialized DAG,
    timetable and next interval), so a pass over a catchup of hundreds of DAGs costs the
    DAGs with a free slot, not every due DAG (``ix_dag_run_state_dag_id`` counts them). The
    stored limit is the DAG's own; ``max_active_runs_of`` may only tighten it.
    """
    active = (
        sa.select(sa.func.count())
        .select_from(DagRun)
        .where(
            DagRun.state.in_(DAGRUN_ACTIVE),
            DagRun.dag_id == DagModel.dag_id,
            _not_a_backfill_run(),
        )
        .correlate(DagModel)
        .scalar_subquery()
    )
    return sa.or_(DagModel.max_active_runs.is_(None), active < DagModel.max_active_runs)


def _not_a_backfill_run() -> sa.ColumnElement[bool]:
    """A run that counts against its DAG's ``max_active_runs``: not a backfill's.

    A backfill's runs count against the backfill's own limit (``start_queued_runs``), and
    that includes an existing run a backfill re-runs: it keeps its run type and gets the
    backfill's id.
    """
    return sa.and_(DagRun.backfill_id.is_(None), DagRun.run_type != DagRunType.BACKFILL.value)


def _active_run_counts(session: Session, dag_ids: list[str]) -> Mapping[str, int]:
    query = (
        sa.select(DagRun.dag_id, sa.func.count())
        .where(DagRun.dag_id.in_(dag_ids), DagRun.state.in_(DAGRUN_ACTIVE), _not_a_backfill_run())
        .group_by(DagRun.dag_id)
    )
    return {key: value for key, value in session.execute(query)}


def _taken_dates(session: Session, dag_ids: list[str]) -> Mapping[str, set[datetime]]:
    """Logical dates at or after each DAG's stored next run that some run has already (any type)."""
    taken: dict[str, set[datetime]] = defaultdict(set)
    if not dag_ids:
        return taken
    query = (
        sa.select(DagRun.dag_id, DagRun.logical_date)
        .join(DagModel, DagModel.dag_id == DagRun.dag_id)
        .where(DagRun.dag_id.in_(dag_ids), DagRun.logical_date >= DagModel.next_dagrun)
    )
    for dag_id, logical_date in session.execute(query):
        taken[dag_id].add(to_utc(logical_date))
    return taken


def _due_info(model: DagModel, dag: SerializedDag, timetable: Timetable, now: datetime) -> DagRunInfo | None:
    """The stored next run; without catchup, skipped ahead to the latest complete interval."""
    start, end = model.next_dagrun_data_interval_start, model.next_dagrun_data_interval_end
    if start is None or end is None or model.next_dagrun_create_after is None:
        return None
    stored = DagRunInfo(
        run_after=to_utc(model.next_dagrun_create_after), data_interval=DataInterval(to_utc(start), to_utc(end))
    )
    if dag.catchup or not timetable.periodic:
        return stored
    restriction = TimeRestriction(earliest=to_utc(start), latest=_utc(dag.end_date), catchup=False, now=to_utc(now))
    return timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)


def _insert_runs(session: Session, due: list[tuple[SerializedDag, DagRunInfo]], *, now: datetime) -> list[DagRun]:
    """Queued scheduled runs for ``due`` with their task instances: one insert of the runs, one of the tasks.

    In a savepoint: if another process took one of the (DAG, date) pairs meanwhile (a
    trigger committed after ``_taken_dates``), the batch is undone and the runs are made
    one by one, so only that one is lost (``_create_run``).
    """
    if not due:
        return []
    runs = [_run_values(dag, info, now) for dag, info in due]

    def insert() -> list[DagRun]:
        created = list(session.scalars(sa.insert(DagRun).returning(DagRun, sort_by_parameter_order=True), runs))
        tis = [
            task_instance_values(dag, task, run_id=row["run_id"])
            for (dag, _), row in zip(due, runs, strict=True)
            for task in dag.tasks.values()
        ]
        if tis:
            session.execute(sa.insert(TaskInstance), tis)
        return created

    created = unless_exists(session, insert, f"{len(runs)} scheduled DAG runs")
    if created is not None:
        return created
    one_by_one = (_create_run(session, dag, info, now) for dag, info in due)
    return [run for run in one_by_one if run is not None]


def _run_values(dag: SerializedDag, info: DagRunInfo, now: datetime) -> dict[str, Any]:
    """The columns of a queued scheduled run (as ``create_dagrun`` makes it) for a bulk insert."""
    return {
        "dag_id": dag.dag_id,
        "run_id": generate_run_id(DagRunType.SCHEDULED, info.logical_date),
        "logical_date": info.logical_date,
        "run_type": DagRunType.SCHEDULED.value,
        "state": DagRunState.QUEUED,
        "queued_at": now,
        "data_interval_start": info.data_interval.start,
        "data_interval_end": info.data_interval.end,
        "conf": {},
        "external_trigger": False,
        "backfill_id": None,
        "triggered_by": DagRunTriggeredByType.TIMETABLE.value,
    }


def _create_run(session: Session, dag: SerializedDag, info: DagRunInfo, now: datetime) -> DagRun | None:
    """A queued scheduled run for ``info``; None if a run already has that logical date."""
    taken = session.scalar(
        sa.select(DagRun.id).where(DagRun.dag_id == dag.dag_id, DagRun.logical_date == info.logical_date)
    )
    if taken is not None:
        return None
    interval = (info.data_interval.start, info.data_interval.end)
    run_id = generate_run_id(DagRunType.SCHEDULED, info.logical_date)
    return unless_exists(
        session,
        lambda: create_dagrun(
            session,
            dag=dag,
            run_id=run_id,
            run_type=DagRunType.SCHEDULED,
            triggered_by=DagRunTriggeredByType.TIMETABLE,
            logical_date=info.logical_date,
            data_interval=interval,
            now=now,
        ),
        f"DAG run {dag.dag_id}/{run_id}",
    )  # a trigger at the same date may commit first
