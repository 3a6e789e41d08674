"""Insert a DAG run and queued task instances, and claim them, for execution tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pendulum

from dagflow.db import Database
from dagflow.execution.claim import ClaimedTry, claim_try
from dagflow.execution.workload import TaskWorkload
from dagflow.models.dag import DagModel
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance
from dagflow.state import DagRunState, TaskInstanceState

LOGICAL_DATE = pendulum.datetime(2024, 3, 5, tz="UTC")


def add_dag_file(db: Database, source: str, *, dag_id: str = "d", name: str | None = None) -> Path:
    """Write ``source`` into the DAG folder and record it as ``dag_id``'s file (as the DAG processor would)."""
    folder = db.settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    path = (folder / (name or f"{dag_id}_dag.py")).resolve()
    path.write_text(source)
    with db.transaction() as session:
        session.merge(DagModel(dag_id=dag_id, fileloc=str(path)))
    return path


def add_run(
    db: Database,
    *,
    dag_id: str = "d",
    run_id: str = "r",
    logical_date: datetime = LOGICAL_DATE,
    state: DagRunState = DagRunState.RUNNING,
    conf: dict[str, Any] | None = None,
) -> None:
    with db.transaction() as session:
        session.add(
            DagRun(
                dag_id=dag_id,
                run_id=run_id,
                logical_date=logical_date,
                state=state,
                data_interval_start=logical_date,
                data_interval_end=pendulum.instance(logical_date).add(days=1),
                conf=conf,
            )
        )


def add_ti(
    db: Database,
    task_id: str,
    *,
    dag_id: str = "d",
    run_id: str = "r",
    map_index: int = -1,
    state: TaskInstanceState = TaskInstanceState.QUEUED,
) -> TaskWorkload:
    with db.transaction() as session:
        ti = TaskInstance(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, state=state)
        session.add(ti)
        session.flush()
        ti_id = ti.id
    return TaskWorkload(ti_id, dag_id, run_id, task_id, map_index, 1)


def claimed(db: Database, task_id: str, **kw: Any) -> ClaimedTry:
    result = claim_try(db, add_ti(db, task_id, **kw), hostname="worker-1")
    assert result is not None
    return result
