"""``dagflow dags test``: one DAG run in this process, through the scheduler's own loop.

The run is written to the metadata DB like any other, then driven to its end by a
``Scheduler`` scoped to it (``only_run``; ``scheduler/single_run.py``) with an inline
executor, so a test run reaches exactly the states a scheduled run would. Only pools
and concurrency limits are ignored, as in Airflow's ``dag.test()``. The DAG's
``on_success_callback`` / ``on_failure_callback`` run in this process when the run
ends. The clock is a parameter (``dagflow.testing.FrozenClock`` in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pendulum

from dagflow.config import Settings
from dagflow.dag_processing.store import store_serialized_dag
from dagflow.db import Database
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.executors.inline import InlineExecutor
from dagflow.scheduler.clock import Clock, utc_clock
from dagflow.scheduler.dag_callbacks import InProcessCallbackRunner
from dagflow.scheduler.dagruns import create_dagrun, delete_dagrun, delete_run, find_dagrun_at, generate_run_id
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.single_run import run_to_end
from dagflow.sdk.dag import DAG
from dagflow.serialization import deserialize_dag, serialize_dag
from dagflow.serialization.params import validate_conf
from dagflow.services.records import RunStates
from dagflow.services.reports import run_report
from dagflow.state import DagRunTriggeredByType, DagRunType


def test_dag(
    settings: Settings,
    db: Database,
    dag: DAG,
    *,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    executor: BaseExecutor | None = None,
    on_event: Callable[[TaskWorkload, TaskEvent], None] | None = None,
    clock: Clock = utc_clock,
) -> RunStates:
    """Run ``dag`` once to completion and return the run and its task instances (see ``run_report``)."""
    run_id = create_test_run(settings, db, dag, logical_date=logical_date, conf=conf, now=clock())
    scheduler = Scheduler(
        settings,
        db,
        executor or InlineExecutor(settings, db=db),
        clock,
        callbacks=InProcessCallbackRunner(settings, db, {dag.dag_id: dag}),
        only_run=(dag.dag_id, run_id),
        on_event=on_event,
    )
    try:
        run_to_end(scheduler)
    finally:
        scheduler.shutdown()
    with db.transaction() as session:
        return run_report(session, dag_id=dag.dag_id, run_id=run_id)


def create_test_run(
    settings: Settings,
    db: Database,
    dag: DAG,
    *,
    logical_date: datetime | None,
    conf: Mapping[str, Any] | None,
    now: datetime,
) -> str:
    """Store ``dag`` and create its manual run at ``logical_date`` (default ``now``); the run id."""
    logical_date = pendulum.instance(logical_date) if logical_date else now
    data = serialize_dag(dag)
    sdag = deserialize_dag(data)
    validate_conf(sdag, conf)  # as a trigger checks it: one clear error before anything is written
    run_id = generate_run_id(DagRunType.MANUAL, logical_date)
    with db.transaction() as session:
        store_serialized_dag(session, data, now=now, paused_at_creation=settings.core.dags_are_paused_at_creation)
        # As Airflow's dag.test(): testing a date again replaces the run at that date.
        delete_dagrun(session, dag_id=dag.dag_id, run_id=run_id)
        delete_run(session, find_dagrun_at(session, dag_id=dag.dag_id, logical_date=logical_date))
        create_dagrun(
            session,
            dag=sdag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            triggered_by=DagRunTriggeredByType.TEST,
            logical_date=logical_date,
            data_interval=_data_interval(dag, logical_date),
            conf=conf,
            external_trigger=True,
            now=now,
        )
    return run_id


def _data_interval(dag: DAG, logical_date: datetime) -> tuple[datetime, datetime]:
    interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
    return (interval.start, interval.end)
