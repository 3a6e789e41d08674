"""How long each task of a DAG took over its recent runs (the web UI's duration chart)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import DagRun, TaskInstance
from dagflow.services.dag_runs import serialized_dag
from dagflow.services.database import ensure_schema
from dagflow.state import TaskInstanceState

#: A mapped task's point takes the first of these states any of its instances has (then its first instance's).
STATE_PRIORITY = ("failed", "upstream_failed", "running", "up_for_retry", "queued", "scheduled")


@dataclass(frozen=True)
class DurationPoint:
    """One run of one task: how long it took (None: not finished or never ran) and how it ended."""

    run_id: str
    logical_date: datetime
    duration: float | None
    state: str | None
    try_number: int


@dataclass(frozen=True)
class TaskDurations:
    """A task's points, oldest run first."""

    task_id: str
    points: tuple[DurationPoint, ...]


def task_durations(
    db: Database, dag_id: str, *, last_runs: int = 25, task_ids: Sequence[str] | None = None
) -> list[TaskDurations]:
    """Each task's duration in the DAG's ``last_runs`` newest runs, tasks in topological order.

    A mapped task counts from its first instance's start to its last one's end.
    """
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        order = serialized_dag(session, dag_id).topological_order()
        wanted = [t for t in order if task_ids is None or t in set(task_ids)]
        newest = session.execute(
            sa.select(DagRun.run_id, DagRun.logical_date)
            .where(DagRun.dag_id == dag_id)
            .order_by(DagRun.logical_date.desc())
            .limit(max(last_runs, 1))
        ).all()
        runs = [(row[0], row[1]) for row in reversed(newest)]
        rows = session.scalars(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id.in_([run_id for run_id, _ in runs]),
                TaskInstance.task_id.in_(wanted),
            )
        ).all()
        by_key: dict[tuple[str, str], list[TaskInstance]] = {}
        for ti in rows:
            by_key.setdefault((ti.task_id, ti.run_id), []).append(ti)
        return [
            TaskDurations(
                task_id,
                tuple(
                    _point(run_id, logical_date, by_key[(task_id, run_id)])
                    for run_id, logical_date in runs
                    if (task_id, run_id) in by_key
                ),
            )
            for task_id in wanted
        ]


def _point(run_id: str, logical_date: datetime, tis: list[TaskInstance]) -> DurationPoint:
    tis = sorted(tis, key=lambda ti: ti.map_index)
    states = [None if ti.state in (None, TaskInstanceState.NONE) else ti.state.value for ti in tis]
    state = next((s for s in STATE_PRIORITY if s in states), states[0])
    if len(tis) == 1:
        duration = tis[0].duration
    else:
        starts = [ti.start_date for ti in tis if ti.start_date]
        ends = [ti.end_date for ti in tis if ti.end_date]
        finished = len(ends) == len(tis) and starts
        duration = (max(ends) - min(starts)).total_seconds() if finished else None
    return DurationPoint(run_id, logical_date, duration, state, max(ti.try_number for ti in tis))
