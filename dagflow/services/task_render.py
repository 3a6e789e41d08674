"""``dagflow tasks render``: a task's template fields rendered for a logical date (or an existing run).

The context is the one a try gets (dates, params, ``var``, ``conn``, macros, XComs of an
existing run); when no run exists at that date, one is imagined from the DAG's timetable
and nothing is written. The DAG object comes from the caller (the CLI imports its file
after the timeout-guarded parse).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.exceptions import DagDefinitionError, DagRunNotFound, TaskNotFound
from dagflow.execution.backend import DbRuntimeBackend
from dagflow.execution.claim import ClaimedTry, RunInfo, run_info
from dagflow.execution.context import build_context
from dagflow.execution.runtime_ti import RuntimeTaskInstance
from dagflow.models import DagRun
from dagflow.sdk import runtime
from dagflow.sdk.dag import DAG
from dagflow.state import DagRunType


def render_task(
    settings: Settings,
    db: Database,
    dag: DAG,
    task_id: str,
    *,
    logical_date: datetime | None = None,
    run_id: str | None = None,
    map_index: int = -1,
) -> dict[str, Any]:
    """``{field: rendered value}`` in the order of the task's ``template_fields``."""
    if task_id not in dag.task_dict:
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag.dag_id!r}")
    task: Any = dag.task_dict[task_id]
    run = _run(db, dag, logical_date, run_id)
    if getattr(task, "is_mapped", False) and (run.id == 0 or map_index < 0):
        raise DagDefinitionError(f"{task_id!r} is mapped: give the run id of an existing run and --map-index")
    claimed = ClaimedTry(
        ti_id=0,
        dag_id=dag.dag_id,
        run_id=run.run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=1,
        max_tries=getattr(task, "retries", 0) or 0,
        token="",
        hostname="",
        start_date=pendulum.now("UTC"),
        first_poke_at=None,
        run=run,
        fileloc=dag.fileloc,
    )
    backend = DbRuntimeBackend(db, settings, dag_id=dag.dag_id, run_id=run.run_id)
    with runtime.installed(backend):
        ti = RuntimeTaskInstance(claimed, task=task, backend=backend)
        context = build_context(
            claimed, dag=dag, task=task, ti=ti, backend=backend, storage=backend.storage, settings=settings
        )
        if getattr(task, "is_mapped", False):
            task = task.unmap(context)
        task = task.prepare_for_execution() if hasattr(task, "prepare_for_execution") else task
        context["ti"].task = context["task"] = task
        task.render_template_fields(context)
    return {field: getattr(task, field) for field in task.template_fields}


def _run(db: Database, dag: DAG, logical_date: datetime | None, run_id: str | None) -> RunInfo:
    """The existing run (by id, or at the date), else an imagined manual one at the date (default: now)."""
    with db.transaction(readonly=True) as session:
        query = sa.select(DagRun).where(DagRun.dag_id == dag.dag_id)
        if run_id is not None:
            found = session.scalars(query.where(DagRun.run_id == run_id)).first()
        elif logical_date is not None:
            found = session.scalars(query.where(DagRun.logical_date == logical_date)).first()
        else:
            found = None
        if found is not None:
            return run_info(found)
    if run_id is not None:
        raise DagRunNotFound(f"DAG run {run_id!r} of {dag.dag_id!r} not found")
    when = pendulum.instance(logical_date) if logical_date is not None else pendulum.now("UTC")
    interval = dag.timetable.infer_manual_data_interval(run_after=when)
    return RunInfo(
        id=0,
        dag_id=dag.dag_id,
        run_id=f"{DagRunType.MANUAL.value}__{when.in_tz('UTC').isoformat()}",
        logical_date=when,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        run_type=DagRunType.MANUAL.value,
        conf={},
        start_date=None,
        external_trigger=True,
    )
