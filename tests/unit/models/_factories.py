"""Small helpers to insert rows for model tests."""

from __future__ import annotations

import itertools

import pendulum
from sqlalchemy.orm import Session

from dagflow.models import DagRun, TaskInstance
from dagflow.models.transitions import check_ti_transition
from dagflow.state import TaskInstanceState

_counter = itertools.count(1)


def add_run(session: Session, *, dag_id: str = "dag", run_id: str | None = None) -> DagRun:
    """Insert a DAG run with a unique run id and logical date."""
    n = next(_counter)
    run = DagRun(
        dag_id=dag_id,
        run_id=run_id or f"manual__{n}",
        logical_date=pendulum.datetime(2024, 1, 1, tz="UTC").add(minutes=n),
    )
    session.add(run)
    session.flush()
    return run


def add_tis(
    session: Session, run: DagRun, count: int = 1, *, state: TaskInstanceState = TaskInstanceState.NONE
) -> list[TaskInstance]:
    """Insert ``count`` task instances of ``run``, created directly in ``state`` (a fixture, not a transition)."""
    tis = [TaskInstance(dag_id=run.dag_id, run_id=run.run_id, task_id=f"t{i}", state=state) for i in range(count)]
    session.add_all(tis)
    session.flush()
    return tis


__all__ = ["add_run", "add_tis", "check_ti_transition"]
