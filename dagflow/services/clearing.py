"""Clearing task instances (Airflow's ``tasks clear``) and marking them by hand.

Clear: matching task instances go to ``none`` (``restarting`` when running), keep their
``try_number`` (the next try is +1) and get their full retries again (``max_tries =
try_number + retries``); finished runs they belong to go back to ``queued`` so the
scheduler picks them up. Mark: a person sets ``success``/``failed``/``skipped``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import DagflowError, DagRunNotFound, InvalidInput, TaskNotFound
from dagflow.execution.events import RUN_CHANGED, RUN_QUEUED, publish
from dagflow.models import DagRun, TaskInstance, set_dagrun_state, set_ti_state, utcnow
from dagflow.scheduler.clearing import clear_task_instance
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.serialization import SerializedDag
from dagflow.services import events
from dagflow.services.dag_runs import ensure_dag_known, serialized_dag
from dagflow.services.records import TaskInstanceRecord
from dagflow.state import CLEARABLE, DAGRUN_FINISHED, FAILED_LIKE, MARKABLE, DagRunState, TaskInstanceState

TI = TaskInstanceState

#: States a clear moves to ``none``: everything but ``none`` itself and ``running``.
#: ``--only-failed`` selects these (as in Airflow).


@dataclass(frozen=True)
class ClearRequest:
    """What to clear: a DAG, an optional task regex, a logical-date range and filters."""

    dag_id: str
    task_regex: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    only_failed: bool = False
    only_running: bool = False
    downstream: bool = False
    upstream: bool = False


def select_task_ids(sdag: SerializedDag, request: ClearRequest) -> set[str]:
    """Task ids matching the regex (``re.search``, as Airflow), plus relatives when asked."""
    if request.task_regex is None:
        return set(sdag.tasks)
    try:
        pattern = re.compile(request.task_regex)
    except re.error as exc:
        raise InvalidInput(f"invalid task regex {request.task_regex!r}: {exc}") from exc
    matched = {t for t in sdag.tasks if pattern.search(t)}
    if not matched:
        raise TaskNotFound(f"no task of DAG {request.dag_id!r} matches {request.task_regex!r}")
    selected = set(matched)
    for task_id in matched:
        if request.downstream:
            selected |= sdag.descendants(task_id)
        if request.upstream:
            selected |= sdag.ancestors(task_id)
    return selected


def _matching_tis(session: Session, request: ClearRequest, task_ids: Iterable[str]) -> list[TaskInstance]:
    states: Iterable[TaskInstanceState] = CLEARABLE | {TI.RUNNING}
    if request.only_failed:
        states = FAILED_LIKE
    elif request.only_running:
        states = {TI.RUNNING}
    query = (
        sa.select(TaskInstance)
        .join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
        .where(
            TaskInstance.dag_id == request.dag_id,
            TaskInstance.task_id.in_(sorted(task_ids)),
            TaskInstance.state.in_(list(states)),
        )
        .order_by(DagRun.logical_date, TaskInstance.task_id, TaskInstance.map_index)
    )
    if request.start_date is not None:
        query = query.where(DagRun.logical_date >= request.start_date)
    if request.end_date is not None:
        query = query.where(DagRun.logical_date <= request.end_date)
    return list(session.scalars(query))


def _ti_row(ti: TaskInstance) -> dict[str, Any]:
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state.value,
        "try_number": ti.try_number,
    }


def preview_clear(settings: Settings, db: Database, request: ClearRequest) -> list[dict[str, Any]]:
    """The task instances ``clear_task_instances`` would clear, changing nothing."""
    ensure_dag_known(settings, db, request.dag_id)
    with db.transaction(readonly=True) as session:
        task_ids = select_task_ids(serialized_dag(session, request.dag_id), request)
        return [_ti_row(ti) for ti in _matching_tis(session, request, task_ids)]


def clear_task_instances(settings: Settings, db: Database, request: ClearRequest) -> list[dict[str, Any]]:
    """Clear the matching task instances and re-queue their finished runs; the rows cleared."""
    ensure_dag_known(settings, db, request.dag_id)
    with db.transaction() as session:
        sdag = serialized_dag(session, request.dag_id)
        tis = _matching_tis(session, request, select_task_ids(sdag, request))
        rows = [_ti_row(ti) for ti in tis]
        cleared = [ti for ti in tis if clear_task_instance(session, sdag, ti)]
        requeue_runs(session, request.dag_id, {ti.run_id for ti in cleared})
        for run_id in sorted({ti.run_id for ti in cleared}):  # wake the schedulers at commit
            publish(session, RUN_QUEUED, dag_id=request.dag_id, run_id=run_id)
        cleared_ids = {ti.id for ti in cleared}
        done = [row for row, ti in zip(rows, tis) if ti.id in cleared_ids]
        record_clear(session, done, only_failed=request.only_failed, downstream=request.downstream)
        return done


def record_clear(session: Session, rows: Sequence[dict[str, Any]], **options: bool) -> None:
    """One ``clear`` event per run, naming the task instances cleared in it."""
    by_run: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        by_run.setdefault((row["dag_id"], row["run_id"]), []).append(row)
    for (dag_id, run_id), tis in sorted(by_run.items()):
        task_id = tis[0]["task_id"] if len(tis) == 1 else None
        listed = [f"{t['task_id']}[{t['map_index']}]" if t["map_index"] >= 0 else t["task_id"] for t in tis[:100]]
        extra = {"task_instances": listed, "count": len(tis), **{k: v for k, v in options.items() if v}}
        events.record(session, "clear", dag_id=dag_id, run_id=run_id, task_id=task_id, extra=extra)


def requeue_runs(session: Session, dag_id: str, run_ids: Iterable[str]) -> int:
    """Finished runs among ``run_ids`` go back to ``queued`` (start and end dates reset)."""
    moved = 0
    for run_id in sorted(set(run_ids)):
        run = find_dagrun(session, dag_id=dag_id, run_id=run_id)
        if run is not None and run.state in DAGRUN_FINISHED:
            values = {"start_date": None, "end_date": None, "last_scheduling_decision": None}
            moved += set_dagrun_state(session, run.id, to=DagRunState.QUEUED, expected=[run.state], values=values)
    return moved


def mark_task_instance(
    settings: Settings,
    db: Database,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    state: TaskInstanceState,
    downstream: bool = False,
    map_indexes: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Set a task instance (and, with ``downstream``, its descendants) to a person's state."""
    if state not in MARKABLE:
        raise DagflowError(
            f"cannot mark a task instance {state.value}: use one of {', '.join(sorted(s.value for s in MARKABLE))}"
        )
    ensure_dag_known(settings, db, dag_id)
    with db.transaction() as session:
        sdag = serialized_dag(session, dag_id)
        if task_id not in sdag.tasks:
            raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r}")
        if find_dagrun(session, dag_id=dag_id, run_id=run_id) is None:
            raise DagRunNotFound(f"DAG run {run_id!r} of {dag_id!r} not found")
        task_ids = {task_id} | (set(sdag.descendants(task_id)) if downstream else set())
        tis = _run_tis(session, dag_id, run_id, task_ids, map_indexes if not downstream else None)
        rows = [{**_ti_row(ti), "state": state.value, "previous_state": ti.state.value} for ti in tis]
        marked = [row for row, ti in zip(rows, tis) if ti.state is not state and mark_one(session, ti, state)]
        for row in marked:
            events.record(
                session,
                "mark_task_instance",
                dag_id=dag_id,
                run_id=run_id,
                task_id=row["task_id"],
                map_index=row["map_index"],
                try_number=row["try_number"],
                extra={"state": state.value, "previous_state": row["previous_state"]},
            )
        if marked:
            publish(session, RUN_CHANGED, dag_id=dag_id, run_id=run_id)
        return marked


@dataclass(frozen=True)
class MarkRequest:
    """Which task instances a person marks: one (or some map indexes of one) plus relatives and other runs.

    ``upstream``/``downstream`` add the task's ancestors/descendants (all their map indexes);
    ``past``/``future`` add the same task instances in this DAG's runs with an earlier/later
    logical date (Airflow's ``include_*`` flags).
    """

    dag_id: str
    run_id: str
    task_id: str
    state: TaskInstanceState
    map_indexes: tuple[int, ...] | None = None
    upstream: bool = False
    downstream: bool = False
    past: bool = False
    future: bool = False


def mark_task_instances(
    settings: Settings, db: Database, request: MarkRequest, *, dry_run: bool = False
) -> list[TaskInstanceRecord]:
    """Set the selected task instances to a person's state; ``dry_run`` lists those it would change, writing nothing.

    Returns the task instances changed (after the change), in run, task and map index order.
    """
    if request.state not in MARKABLE:
        raise InvalidInput(
            f"cannot mark a task instance {request.state.value}: use one of "
            f"{', '.join(sorted(s.value for s in MARKABLE))}"
        )
    ensure_dag_known(settings, db, request.dag_id)
    with db.transaction(readonly=dry_run) as session:
        sdag = serialized_dag(session, request.dag_id)
        if request.task_id not in sdag.tasks:
            raise TaskNotFound(f"task {request.task_id!r} not found in DAG {request.dag_id!r}")
        run = find_dagrun(session, dag_id=request.dag_id, run_id=request.run_id)
        if run is None:
            raise DagRunNotFound(f"DAG run {request.run_id!r} of {request.dag_id!r} not found")
        rows = [row for row in _selected(session, sdag, request, run) if row[0].state is not request.state]
        if dry_run:
            return [TaskInstanceRecord.of(ti, when) for ti, when in rows]
        previous = {ti.id: ti.state for ti, _ in rows}
        marked = [(ti, when) for ti, when in rows if mark_one(session, ti, request.state)]
        for ti, _ in marked:
            events.record(
                session,
                "mark_task_instance",
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                try_number=ti.try_number,
                extra={"state": request.state.value, "previous_state": previous[ti.id].value},
            )
        for run_id in sorted({ti.run_id for ti, _ in marked}):
            publish(session, RUN_CHANGED, dag_id=request.dag_id, run_id=run_id)
        session.flush()
        for ti, _ in marked:
            session.refresh(ti)
        return [TaskInstanceRecord.of(ti, when) for ti, when in marked]


def _selected(
    session: Session, sdag: SerializedDag, request: MarkRequest, run: DagRun
) -> list[tuple[TaskInstance, datetime]]:
    relatives: set[str] = set()
    if request.downstream:
        relatives |= sdag.descendants(request.task_id)
    if request.upstream:
        relatives |= sdag.ancestors(request.task_id)
    relatives.discard(request.task_id)
    own = TaskInstance.task_id == request.task_id
    if request.map_indexes is not None:
        own = sa.and_(own, TaskInstance.map_index.in_(list(request.map_indexes)))
    query = (
        sa.select(TaskInstance, DagRun.logical_date)
        .join(DagRun, sa.and_(DagRun.dag_id == TaskInstance.dag_id, DagRun.run_id == TaskInstance.run_id))
        .where(TaskInstance.dag_id == request.dag_id, sa.or_(own, TaskInstance.task_id.in_(sorted(relatives))))
        .order_by(DagRun.logical_date, TaskInstance.task_id, TaskInstance.map_index)
    )
    if request.past and request.future:
        pass
    elif request.past:
        query = query.where(DagRun.logical_date <= run.logical_date)
    elif request.future:
        query = query.where(DagRun.logical_date >= run.logical_date)
    else:
        query = query.where(DagRun.id == run.id)
    return [(ti, when) for ti, when in session.execute(query)]


def _run_tis(
    session: Session, dag_id: str, run_id: str, task_ids: set[str], map_indexes: Sequence[int] | None
) -> list[TaskInstance]:
    query = (
        sa.select(TaskInstance)
        .where(
            TaskInstance.dag_id == dag_id,
            TaskInstance.run_id == run_id,
            TaskInstance.task_id.in_(sorted(task_ids)),
        )
        .order_by(TaskInstance.task_id, TaskInstance.map_index)
    )
    if map_indexes is not None:
        query = query.where(TaskInstance.map_index.in_(list(map_indexes)))
    return list(session.scalars(query))


def mark_one(session: Session, ti: TaskInstance, state: TaskInstanceState) -> bool:
    """Set one task instance to a person's ``state`` (compare-and-set on its current state); True if it moved."""
    now = utcnow()
    values = {"end_date": now, "start_date": ti.start_date or now, "next_try_at": None}
    return set_ti_state(session, [ti.id], to=state, expected=[ti.state], values=values) == 1


__all__ = [
    "ClearRequest",
    "MarkRequest",
    "clear_task_instances",
    "mark_task_instance",
    "mark_task_instances",
    "preview_clear",
    "requeue_runs",
]
