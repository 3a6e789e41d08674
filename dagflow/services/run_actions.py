"""One run's tries (for a Gantt chart) and what a person does to one run: clear some of it, retry what failed.

``clear_in_run`` clears task instances of one run (chosen tasks, their upstream and/or
downstream, or only the failed ones), ``preview`` lists what it would clear. ``retry_failed``
re-runs a run's ``failed`` and ``upstream_failed`` task instances (Airflow's ``dags retry``);
both keep every earlier try in the history and give the next try the next number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import TaskInstance, TaskInstanceHistory
from dagflow.services.clearing import ClearRequest, clear_task_instances, preview_clear
from dagflow.services.dag_runs import get_run
from dagflow.services.records import TaskInstanceRecord, TryRecord
from dagflow.state import TaskInstanceState


@dataclass(frozen=True)
class RunClear:
    """What to clear in one run: ``task_ids`` (empty: every task) and how far around them."""

    dag_id: str
    run_id: str
    task_ids: tuple[str, ...] = ()
    upstream: bool = False
    downstream: bool = False
    only_failed: bool = False


def _request(db: Database, clear: RunClear) -> ClearRequest:
    run = get_run(db, clear.dag_id, clear.run_id)  # DagRunNotFound first
    regex = "^(" + "|".join(re.escape(t) for t in clear.task_ids) + ")$" if clear.task_ids else None
    return ClearRequest(
        dag_id=clear.dag_id,
        task_regex=regex,
        start_date=run.logical_date,
        end_date=run.logical_date,  # a DAG has one run per logical date: this is the run
        only_failed=clear.only_failed,
        upstream=clear.upstream,
        downstream=clear.downstream,
    )


def preview(settings: Settings, db: Database, clear: RunClear) -> list[TaskInstanceRecord]:
    """The task instances ``clear_in_run`` would clear."""
    return [ti for ti in preview_clear(settings, db, _request(db, clear)) if ti.run_id == clear.run_id]


def clear_in_run(settings: Settings, db: Database, clear: RunClear) -> list[TaskInstanceRecord]:
    """Clear them; the run goes back to ``queued`` if it had finished. The rows cleared."""
    return clear_task_instances(settings, db, _request(db, clear))


def retry_failed(settings: Settings, db: Database, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
    """Re-run the run's ``failed`` and ``upstream_failed`` task instances, keeping every try."""
    return clear_in_run(settings, db, RunClear(dag_id, run_id, only_failed=True))


def run_tries(db: Database, dag_id: str, run_id: str, *, task_ids: Sequence[str] = ()) -> list[TryRecord]:
    """Every try of the run's task instances that started: ended ones from the history, then the current ones."""
    get_run(db, dag_id, run_id)
    with db.transaction(readonly=True) as session:
        history = sa.select(TaskInstanceHistory).where(
            TaskInstanceHistory.dag_id == dag_id, TaskInstanceHistory.run_id == run_id
        )
        current = sa.select(TaskInstance).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.start_date.is_not(None)
        )
        if task_ids:
            history = history.where(TaskInstanceHistory.task_id.in_(list(task_ids)))
            current = current.where(TaskInstance.task_id.in_(list(task_ids)))
        tries = {(h.task_id, h.map_index, h.try_number): TryRecord.of(h) for h in session.scalars(history)}
        for ti in session.scalars(current):
            key = (ti.task_id, ti.map_index, ti.try_number)
            if ti.try_number >= 1 and (key not in tries or not ti.is_finished):
                state = None if ti.state is None or ti.state is TaskInstanceState.NONE else ti.state.value
                tries[key] = TryRecord(
                    ti.dag_id, ti.run_id, ti.task_id, ti.map_index, ti.try_number, state,
                    ti.start_date, ti.end_date, ti.duration, ti.hostname, ti.pid, ti.end_reason,
                )  # fmt: skip
    return sorted(tries.values(), key=lambda t: (t.start_date is None, t.start_date or 0, t.task_id, t.try_number))
