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
from dagflow.exceptions import DagRunNotFound, InvalidInput, TaskNotFound
from dagflow.execution.events import RUN_CHANGED, RUN_QUEUED, publish
from dagflow.execution.workload import TaskInstanceKeyed
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
    """Task ids matching the regex (``re.search``, as Airflow), plus relatives when asked,
    plus the setups and teardowns the selected tasks need (``_with_setups_and_teardowns``)."""
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
        selected |= _with_setups_and_teardowns(sdag, task_id, matched, request)
    return selected


def _with_setups_and_teardowns(sdag: SerializedDag, task_id: str, matched: set[str], request: ClearRequest) -> set[str]:
    """What clearing ``task_id`` brings along, as Airflow's clear does.

    Downstream/upstream relatives when asked; a cleared work task's setups come with it (with
    their teardowns) so the resource it uses is set up again and torn down; a cleared setup
    brings its teardowns. Upstream relatives bring the teardowns of the setups among them.
    """
    task = sdag.tasks[task_id]
    extra: set[str] = set()
    if request.downstream:
        for relative in sdag.descendants(task_id):
            extra.add(relative)
            kind = sdag.tasks[relative]
            if relative not in matched and not (kind.is_setup or kind.is_teardown):
                extra |= _relevant_setups(sdag, relative)
    if request.upstream:
        ancestors = sdag.ancestors(task_id)
        extra |= ancestors | {t for a in ancestors if sdag.tasks[a].is_setup for t in _teardowns(sdag, a)}
    elif not (task.is_setup or task.is_teardown):
        extra |= _relevant_setups(sdag, task_id)
    if task.is_setup and not request.downstream:
        extra |= _teardowns(sdag, task_id)
    extra.discard(task_id)
    return extra


def _teardowns(sdag: SerializedDag, setup_id: str) -> set[str]:
    return {t for t in sdag.tasks[setup_id].downstream_task_ids if sdag.tasks[t].is_teardown}


def _relevant_setups(sdag: SerializedDag, task_id: str) -> set[str]:
    """The setups upstream of ``task_id`` whose teardown comes after it (or that have none), with those teardowns."""
    teardowns_after = {t for t in sdag.descendants(task_id) if sdag.tasks[t].is_teardown}
    found: set[str] = set()
    for upstream in sdag.ancestors(task_id):
        if not sdag.tasks[upstream].is_setup:
            continue
        own = _teardowns(sdag, upstream)
        if not own or own & teardowns_after:
            found |= {upstream, *own}
    return found


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


def _with_dates(session: Session, tis: Sequence[TaskInstance]) -> list[TaskInstanceRecord]:
    """Snapshots of ``tis`` (taken before any change) with their runs' logical dates."""
    runs = {ti.run_id for ti in tis}
    dates: dict[str, datetime] = {}
    if tis:
        query = sa.select(DagRun.run_id, DagRun.logical_date).where(
            DagRun.dag_id == tis[0].dag_id, DagRun.run_id.in_(sorted(runs))
        )
        dates = {run_id: when for run_id, when in session.execute(query)}
    return [TaskInstanceRecord.of(ti, dates.get(ti.run_id)) for ti in tis]


def preview_clear(settings: Settings, db: Database, request: ClearRequest) -> list[TaskInstanceRecord]:
    """The task instances ``clear_task_instances`` would clear, changing nothing."""
    ensure_dag_known(settings, db, request.dag_id)
    with db.transaction(readonly=True) as session:
        task_ids = select_task_ids(serialized_dag(session, request.dag_id), request)
        return _with_dates(session, _matching_tis(session, request, task_ids))


def clear_task_instances(settings: Settings, db: Database, request: ClearRequest) -> list[TaskInstanceRecord]:
    """Clear the matching task instances and re-queue their finished runs; those cleared, as they were before."""
    ensure_dag_known(settings, db, request.dag_id)
    with db.transaction() as session:
        sdag = serialized_dag(session, request.dag_id)
        tis = _matching_tis(session, request, select_task_ids(sdag, request))
        before = _with_dates(session, tis)
        cleared = [ti for ti in tis if clear_task_instance(session, sdag, ti)]
        requeue_runs(session, request.dag_id, {ti.run_id for ti in cleared})
        for run_id in sorted({ti.run_id for ti in cleared}):  # wake the schedulers at commit
            publish(session, RUN_QUEUED, dag_id=request.dag_id, run_id=run_id)
        cleared_ids = {ti.id for ti in cleared}
        done = [record for record in before if record.id in cleared_ids]
        record_clear(session, done, only_failed=request.only_failed, downstream=request.downstream)
        return done


def record_clear(session: Session, cleared: Sequence[TaskInstanceKeyed], **options: bool) -> None:
    """One ``clear`` event per run, naming the task instances cleared in it."""
    by_run: dict[tuple[str, str], list[TaskInstanceKeyed]] = {}
    for ti in cleared:
        by_run.setdefault((ti.dag_id, ti.run_id), []).append(ti)
    for (dag_id, run_id), tis in sorted(by_run.items()):
        task_id = tis[0].task_id if len(tis) == 1 else None
        listed = [f"{t.task_id}[{t.map_index}]" if t.map_index >= 0 else t.task_id for t in tis[:100]]
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


@dataclass(frozen=True)
class MarkedTaskInstance:
    """A task instance a person marked (as it is after the mark) and its state before."""

    ti: TaskInstanceRecord
    previous_state: str | None

    def to_dict(self) -> dict[str, Any]:
        """A row for the CLI: ids, state, try and the state before."""
        t = self.ti
        return {
            "dag_id": t.dag_id,
            "run_id": t.run_id,
            "task_id": t.task_id,
            "map_index": t.map_index,
            "state": t.state or "none",
            "try_number": t.try_number,
            "previous_state": self.previous_state or "none",
        }


def mark_task_instances(
    settings: Settings, db: Database, request: MarkRequest, *, dry_run: bool = False
) -> list[MarkedTaskInstance]:
    """Set the selected task instances to a person's state; ``dry_run`` lists those it would change, writing nothing.

    Returns the task instances changed (as they are after the change; as they are now for
    ``dry_run``), in logical date, task and map index order.
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
            return [MarkedTaskInstance(TaskInstanceRecord.of(ti, when), _state(ti)) for ti, when in rows]
        previous = {ti.id: (_state(ti), ti.try_number) for ti, _ in rows}
        marked = [(ti, when) for ti, when in rows if mark_one(session, ti, request.state)]
        for ti, _ in marked:
            state, try_number = previous[ti.id]
            events.record(
                session,
                "mark_task_instance",
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                try_number=try_number,
                extra={"state": request.state.value, "previous_state": state or "none"},
            )
        for run_id in sorted({ti.run_id for ti, _ in marked}):
            publish(session, RUN_CHANGED, dag_id=request.dag_id, run_id=run_id)
        session.flush()
        for ti, _ in marked:
            session.refresh(ti)
        return [MarkedTaskInstance(TaskInstanceRecord.of(ti, when), previous[ti.id][0]) for ti, when in marked]


def _state(ti: TaskInstance) -> str | None:
    return None if ti.state is None or ti.state is TI.NONE else ti.state.value


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


def mark_one(session: Session, ti: TaskInstance, state: TaskInstanceState) -> bool:
    """Set one task instance to a person's ``state`` (compare-and-set on its current state); True if it moved."""
    now = utcnow()
    values = {"end_date": now, "start_date": ti.start_date or now, "next_try_at": None}
    return set_ti_state(session, [ti.id], to=state, expected=[ti.state], values=values) == 1


__all__ = [
    "ClearRequest",
    "MarkRequest",
    "clear_task_instances",
    "MarkedTaskInstance",
    "mark_task_instances",
    "preview_clear",
    "requeue_runs",
]
