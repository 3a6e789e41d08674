"""``dagflow tasks test``: run one task once, ignoring its dependencies, and forget the run.

As in Airflow, nothing is left behind: the task runs once, in a throwaway DAG run that
is deleted afterwards (XComs from upstream tasks are therefore not available), with
``test_mode`` set in its context; a failure ends it ``failed`` (its retries are not
used, since nothing would run them). A deferred task's trigger runs here and the task
resumes, as in ``dags test``. A successful try records no asset event (Airflow's test mode).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pendulum

from dagflow.config import Settings
from dagflow.dag_processing.store import store_serialized_dag
from dagflow.db import Database
from dagflow.exceptions import DagDefinitionError, TaskNotFound
from dagflow.execution.logs import read_log
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import workload_for
from dagflow.models import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.dagruns import create_dagrun, delete_dagrun
from dagflow.sdk.dag import DAG
from dagflow.serialization import deserialize_dag, serialize_dag
from dagflow.services.database import ensure_schema
from dagflow.state import DagRunState, DagRunTriggeredByType, DagRunType, TaskInstanceState
from dagflow.triggerer.inline import resume_deferred_inline

TI = TaskInstanceState
TEST_RUN_PREFIX = "tasks_test__"


def _queue_again(db: Database, *, ti_id: int, now: datetime) -> Any:
    """The resumed task instance (``scheduled`` after its trigger fired) queued for its next run."""
    with db.transaction() as session:
        set_ti_state(session, [ti_id], to=TI.QUEUED, expected=[TI.SCHEDULED], values={"queued_at": now})
        ti = session.get(TaskInstance, ti_id)
        assert ti is not None
        return workload_for(ti, ti_id=ti.id)


def test_task(
    settings: Settings, db: Database, dag: DAG, task_id: str, *, logical_date: datetime | None = None
) -> dict[str, Any]:
    """Run ``task_id`` of ``dag`` (loaded by the caller) once; return its state, try and log text."""
    ensure_schema(db)
    dag_id = dag.dag_id
    if task_id not in dag.task_dict:
        raise TaskNotFound(f"task {task_id!r} not found in DAG {dag_id!r}")
    if dag.task_dict[task_id].is_mapped:
        raise DagDefinitionError(f"{task_id!r} is a mapped task: run the DAG with `dagflow dags test`")
    now = pendulum.now("UTC")
    logical_date = pendulum.instance(logical_date) if logical_date else now
    data = serialize_dag(dag)
    sdag = deserialize_dag(data)
    run_id = f"{TEST_RUN_PREFIX}{logical_date.isoformat()}"
    interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
    with db.transaction() as session:
        store_serialized_dag(session, data, now=now, paused_at_creation=settings.core.dags_are_paused_at_creation)
        delete_dagrun(session, dag_id=dag_id, run_id=run_id)
        create_dagrun(
            session,
            dag=sdag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            logical_date=logical_date,
            data_interval=(interval.start, interval.end),
            state=DagRunState.RUNNING,
            now=now,
        )
        ti = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run_id, task_id=task_id).one()
        set_ti_state(session, [ti.id], to=TI.SCHEDULED, expected=[TI.NONE])
        # One try, nothing kept: a failure is ``failed``, never ``up_for_retry`` (no retry will come).
        values = {"queued_at": now, "max_tries": 0}
        set_ti_state(session, [ti.id], to=TI.QUEUED, expected=[TI.SCHEDULED], values=values)
        workload = workload_for(ti, ti_id=ti.id)
    try:
        outcome = run_workload(workload, settings, db=db, test_mode=True)
        while outcome.state is TI.DEFERRED and resume_deferred_inline(settings, db, dag_id, run_id):
            workload = _queue_again(db, ti_id=workload.ti_id, now=pendulum.now("UTC"))  # resumes, same try
            outcome = run_workload(workload, settings, db=db, test_mode=True)
        log = read_log(
            settings, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1, try_number=workload.try_number
        )
    finally:
        with db.transaction() as session:
            delete_dagrun(session, dag_id=dag_id, run_id=run_id)
    state = outcome.state.value if outcome.state is not None else "none"
    return {
        "dag_id": dag_id,
        "task_id": task_id,
        "state": state,
        "try_number": outcome.try_number,
        "reason": outcome.reason,
        "log": log,
    }
