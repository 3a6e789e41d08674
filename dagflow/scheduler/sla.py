"""The SLA checker: task instances not done by ``data_interval_end + sla`` (as Airflow 2).

A task's ``sla`` is measured from its run's ``data_interval_end``; only scheduled runs
are checked (a manual or backfill run has no deadline, as in Airflow). A task instance
*misses* its SLA when the deadline has passed and it did not end ``success`` or
``skipped`` by then: still running or waiting, failed, or done but late. Each miss is
recorded once in ``sla_miss`` (one row per task and run; for a mapped task the first
late map index), with the deadline and how late it was when seen (or when it ended).

``check_slas`` runs on the scheduler's full passes with ONE query for every task of
every DAG: the ``sla`` values come from the serialized DAGs the scheduler already
holds (``SerializedDagStore``), grouped by value, so the query has one condition per
distinct ``sla``, not one per task. Rows already in ``sla_miss`` are left out by the
query; the insert skips conflicts, so two schedulers record a miss once. The DAG's
``sla_miss_callback`` then runs once per batch of new misses, in a short-lived process
(``CallbackRunner``), with Airflow's arguments ``(dag, task_list, blocking_task_list,
slas, blocking_tis)``; it sets ``callback_ran`` when done. Runs whose deadline passed
more than ``SLA_LOOKBACK`` ago are not looked at (a scheduler that was down for longer
does not flood the table). ``scheduler.check_slas = false`` turns the checker off.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dagflow.models import DagRun, SlaMiss, TaskInstance
from dagflow.scheduler.dag_store import CachedDag, SerializedDagStore
from dagflow.state import SUCCESS_LIKE, DagRunType, TaskInstanceState

if TYPE_CHECKING:
    from dagflow.config import Settings

log = logging.getLogger(__name__)
TI = TaskInstanceState

#: How far past a deadline the checker still looks for misses.
SLA_LOOKBACK = timedelta(days=1)
CALLBACK = "sla_miss_callback"

SlaKey = tuple[str, str]  # (dag_id, task_id)


@dataclass(frozen=True)
class SlaMissInfo:
    """One recorded miss, as plain values (what the callback gets in ``slas``)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    logical_date: datetime | None
    expected_by: datetime
    late_by_seconds: float

    @property
    def execution_date(self) -> datetime | None:
        """Airflow's name for ``logical_date``."""
        return self.logical_date


@dataclass(frozen=True)
class SlaCallbackRequest:
    """Run one DAG's ``sla_miss_callback`` for a batch of new misses."""

    dag_id: str
    fileloc: str
    misses: tuple[SlaMissInfo, ...]
    callback: str = CALLBACK

    @property
    def run_id(self) -> str:
        """The runs of the batch (for logs)."""
        return ",".join(sorted({m.run_id for m in self.misses}))

    def run(self, settings: Settings) -> None:
        """In the callback process: see ``run_sla_callback``."""
        run_sla_callback(settings, self)


def sla_tasks(dags: Iterable[CachedDag]) -> dict[SlaKey, timedelta]:
    """Every task with an ``sla`` among ``dags``."""
    return {
        (entry.dag.dag_id, task.task_id): task.sla
        for entry in dags
        for task in entry.dag.tasks.values()
        if task.sla is not None
    }


def check_slas(session: Session, store: SerializedDagStore, *, now: datetime) -> list[SlaCallbackRequest]:
    """Record new misses (see the module docstring); the callbacks to run after the commit."""
    dags = {entry.dag.dag_id: entry for entry in store.cached()}
    slas = sla_tasks(dags.values())
    if not slas:
        return []
    found = first_miss_per_task_run(late_rows(session, slas, now=now), slas, now=now)
    recorded = _insert(session, found, now=now)
    if recorded:
        log.warning("SLA missed: %s", ", ".join(f"{m.dag_id}.{m.task_id} in {m.run_id}" for m in recorded))
    return _requests(recorded, dags)


def late_rows(session: Session, slas: Mapping[SlaKey, timedelta], *, now: datetime) -> list[sa.Row[Any]]:
    """Task instances past their deadline, not done by it and not yet in ``sla_miss`` (one query)."""
    dialect = session.get_bind().dialect.name
    by_value: dict[float, list[SlaKey]] = defaultdict(list)
    for key, sla in slas.items():
        by_value[sla.total_seconds()].append(key)
    ended_late = [
        sa.and_(
            sa.tuple_(TaskInstance.dag_id, TaskInstance.task_id).in_(keys),
            DagRun.data_interval_end < now - timedelta(seconds=seconds),
            sa.or_(
                TaskInstance.state.not_in(SUCCESS_LIKE),
                TaskInstance.end_date.is_(None),
                seconds_between(TaskInstance.end_date, DagRun.data_interval_end, dialect) > seconds,
            ),
        )
        for seconds, keys in sorted(by_value.items())
    ]
    oldest = now - timedelta(seconds=max(by_value)) - SLA_LOOKBACK
    query = (
        sa.select(
            TaskInstance.dag_id,
            TaskInstance.task_id,
            TaskInstance.run_id,
            TaskInstance.map_index,
            TaskInstance.state,
            TaskInstance.end_date,
            DagRun.logical_date,
            DagRun.data_interval_end,
        )
        .join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
        .outerjoin(
            SlaMiss,
            sa.and_(
                SlaMiss.dag_id == TaskInstance.dag_id,
                SlaMiss.task_id == TaskInstance.task_id,
                SlaMiss.run_id == TaskInstance.run_id,
            ),
        )
        .where(
            SlaMiss.id.is_(None),
            DagRun.run_type == DagRunType.SCHEDULED.value,
            DagRun.data_interval_end >= oldest,
            TaskInstance.state != TI.REMOVED,
            sa.or_(*ended_late),
        )
        .order_by(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
    )
    return list(session.execute(query))


def seconds_between(later: Any, earlier: Any, dialect: str) -> sa.ColumnElement[Any]:
    """``later - earlier`` in seconds, in SQL (the date arithmetic differs per database)."""
    if dialect == "postgresql":
        return sa.extract("epoch", later - earlier)
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400.0


def first_miss_per_task_run(
    rows: Sequence[sa.Row[Any]], slas: Mapping[SlaKey, timedelta], *, now: datetime
) -> list[SlaMissInfo]:
    """One miss per (task, run): the lowest late map index; late by its end or by ``now``."""
    misses: dict[tuple[str, str, str], SlaMissInfo] = {}
    for row in rows:
        dag_id, task_id, run_id, map_index, state, end_date, logical_date, interval_end = tuple(row)
        if (dag_id, task_id, run_id) in misses:
            continue
        expected_by = interval_end + slas[(dag_id, task_id)]
        seen = end_date if state in SUCCESS_LIKE and end_date is not None else now
        misses[(dag_id, task_id, run_id)] = SlaMissInfo(
            dag_id,
            task_id,
            run_id,
            map_index,
            logical_date,
            expected_by,
            round(max((seen - expected_by).total_seconds(), 0.0), 3),
        )
    return list(misses.values())


def _insert(session: Session, misses: Sequence[SlaMissInfo], *, now: datetime) -> list[SlaMissInfo]:
    """Insert the misses, skipping any another scheduler recorded first; those inserted."""
    if not misses:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "dag_id": m.dag_id,
            "task_id": m.task_id,
            "run_id": m.run_id,
            "map_index": m.map_index,
            "logical_date": m.logical_date,
            "expected_by": m.expected_by,
            "detected_at": now,
            "late_by_seconds": m.late_by_seconds,
        }
        for m in misses
    ]
    stmt = (
        insert(SlaMiss).values(rows).on_conflict_do_nothing().returning(SlaMiss.dag_id, SlaMiss.task_id, SlaMiss.run_id)
    )
    inserted = {tuple(row) for row in session.execute(stmt)}
    return [m for m in misses if (m.dag_id, m.task_id, m.run_id) in inserted]


def _requests(recorded: Sequence[SlaMissInfo], dags: Mapping[str, CachedDag]) -> list[SlaCallbackRequest]:
    by_dag: dict[str, list[SlaMissInfo]] = defaultdict(list)
    for miss in recorded:
        by_dag[miss.dag_id].append(miss)
    requests = []
    for dag_id, misses in sorted(by_dag.items()):
        entry = dags[dag_id]
        if entry.dag.has_callback(CALLBACK):
            requests.append(SlaCallbackRequest(dag_id, entry.fileloc or entry.dag.fileloc or "", tuple(misses)))
    return requests


# --- the callback process -------------------------------------------------------------
@dataclass(frozen=True)
class BlockingTaskInstance:
    """A direct upstream of a late task that has not succeeded (``blocking_tis``)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    state: str
    logical_date: datetime | None


def run_sla_callback(settings: Settings, request: SlaCallbackRequest) -> None:
    """In a short-lived process: call the DAG's ``sla_miss_callback``, then mark the misses."""
    from dagflow.db import Database
    from dagflow.execution.backend import DbRuntimeBackend
    from dagflow.execution.callbacks import callbacks_of
    from dagflow.execution.dag_cache import DagCache
    from dagflow.sdk import runtime

    logging.basicConfig(level=settings.logging.level.upper())
    db = Database(settings)
    try:
        dag = DagCache().get_dag(request.fileloc, request.dag_id)
        blocking = _blocking(db, dag, request.misses)
        task_list = "\n".join(f"{m.task_id} on {_date(m.logical_date)}" for m in request.misses)
        blocking_list = "\n".join(f"{b.task_id} on {_date(b.logical_date)}" for b in blocking)
        first_run = request.misses[0].run_id if request.misses else ""
        backend = DbRuntimeBackend(db, settings, dag_id=request.dag_id, run_id=first_run)
        with runtime.installed(backend):  # variables and connections (a notifier's conn id) work here too
            for callback in callbacks_of(dag, CALLBACK):
                try:
                    callback(dag, task_list, blocking_list, list(request.misses), blocking)  # type: ignore[call-arg]
                except Exception:
                    log.exception("sla_miss_callback of DAG %s raised (ignored)", request.dag_id)
        _mark_callback_ran(db, request.misses)
    except Exception:
        log.exception("sla_miss_callback of DAG %s could not run", request.dag_id)
    finally:
        db.dispose()


def _date(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "?"


def _blocking(db: Any, dag: Any, misses: Sequence[SlaMissInfo]) -> list[BlockingTaskInstance]:
    """Direct upstreams of the late tasks, in the same runs, that did not succeed."""
    wanted = {
        (m.run_id, up) for m in misses if m.task_id in dag.task_dict for up in dag.get_task(m.task_id).upstream_task_ids
    }
    if not wanted:
        return []
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(
                TaskInstance.task_id,
                TaskInstance.run_id,
                TaskInstance.map_index,
                TaskInstance.state,
                DagRun.logical_date,
            )
            .join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
            .where(
                TaskInstance.dag_id == dag.dag_id,
                TaskInstance.run_id.in_({run_id for run_id, _ in wanted}),
                TaskInstance.task_id.in_({task_id for _, task_id in wanted}),
                TaskInstance.state.not_in(SUCCESS_LIKE),
            )
            .order_by(TaskInstance.run_id, TaskInstance.task_id, TaskInstance.map_index)
        )
        return [
            BlockingTaskInstance(dag.dag_id, task_id, run_id, index, state.value, logical_date)
            for task_id, run_id, index, state, logical_date in rows
            if (run_id, task_id) in wanted
        ]


def _mark_callback_ran(db: Any, misses: Sequence[SlaMissInfo]) -> None:
    with db.transaction() as session:
        for miss in misses:
            session.execute(
                sa.update(SlaMiss)
                .where(
                    SlaMiss.dag_id == miss.dag_id,
                    SlaMiss.task_id == miss.task_id,
                    SlaMiss.run_id == miss.run_id,
                )
                .values(callback_ran=True)
            )
