"""Deferred task instances of one run, resumed without a triggerer (``dags test``, ``dagflow.testing``).

As Airflow's ``dag.test()``: each trigger runs in this process to its first event (or
its timeout), and its task instances go back to ``scheduled`` as a triggerer would
leave them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from dagflow.execution.backend import DbRuntimeBackend
from dagflow.models import TaskInstance, Trigger
from dagflow.models.base import as_utc, utcnow
from dagflow.state import TaskInstanceState
from dagflow.triggerer import store
from dagflow.triggerer.runner import run_inline

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database


def resume_deferred_inline(settings: Settings, db: Database, dag_id: str, run_id: str) -> int:
    """Run the triggers the run's deferred task instances wait for; how many triggers fired or failed."""
    with db.transaction(readonly=True) as session:
        rows = session.execute(
            sa.select(Trigger.id, Trigger.classpath, Trigger.kwargs, sa.func.min(TaskInstance.trigger_timeout))
            .join(TaskInstance, TaskInstance.trigger_id == Trigger.id)
            .where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.state == TaskInstanceState.DEFERRED,
            )
            .group_by(Trigger.id, Trigger.classpath, Trigger.kwargs)
            .order_by(Trigger.id)
        ).all()
    runtime = DbRuntimeBackend(db, settings, dag_id=dag_id, run_id=run_id)
    for trigger_id, classpath, kwargs, timeout_at in rows:
        timeout_s = None if timeout_at is None else max((as_utc(timeout_at) - utcnow()).total_seconds(), 0.0)
        outcome = run_inline(classpath, dict(kwargs or {}), runtime, timeout_s=timeout_s)
        with db.transaction() as session:
            if outcome.error is not None:  # "Trigger timeout" too: the tasks fail where they resume
                store.submit_failure(session, trigger_id, outcome.error)
            else:
                store.submit_event(session, trigger_id, outcome.payload)
    return len(rows)
