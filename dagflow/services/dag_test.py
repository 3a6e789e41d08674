"""``dagflow dags test``: one DAG run in this process, through the real planner and runner.

The run is written to the metadata DB like any other; the loop is the scheduler's own
(``schedule_run`` → ``queue_scheduled`` → executor) with an inline executor, so a test
run reaches exactly the states a scheduled run would. Only pools and concurrency limits
are ignored, as in Airflow.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pendulum

from dagflow.config import Settings
from dagflow.dag_processing.store import store_serialized_dag
from dagflow.db import Database
from dagflow.exceptions import DagflowError
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.scheduler.dagruns import (
    create_dagrun,
    delete_dagrun,
    delete_run,
    find_dagrun,
    find_dagrun_at,
    generate_run_id,
)
from dagflow.scheduler.run_scheduling import queue_scheduled, schedule_run
from dagflow.sdk.dag import DAG
from dagflow.serialization import SerializedDag, deserialize_dag, serialize_dag
from dagflow.serialization.params import validate_conf
from dagflow.services.reports import run_report
from dagflow.state import DAGRUN_FINISHED, DagRunType

#: Longest single sleep while waiting for a retry delay or a sensor's next poke.
MAX_NAP = 1.0


def test_dag(
    settings: Settings,
    db: Database,
    dag: DAG,
    *,
    logical_date: datetime | None = None,
    conf: Mapping[str, Any] | None = None,
    executor: BaseExecutor | None = None,
    on_event: Callable[[TaskWorkload, TaskEvent], None] | None = None,
) -> dict[str, Any]:
    """Run ``dag`` once to completion and return the run report (see ``run_report``)."""
    now = pendulum.now("UTC")
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
            logical_date=logical_date,
            data_interval=_data_interval(dag, logical_date),
            conf=conf,
            external_trigger=True,
            now=now,
        )
    executor = executor or _inline_executor(settings, db)
    try:
        _drive(db, sdag, run_id, executor, on_event)
    finally:
        executor.shutdown()
    with db.transaction() as session:
        return run_report(session, dag_id=dag.dag_id, run_id=run_id)


def _drive(
    db: Database,
    sdag: SerializedDag,
    run_id: str,
    executor: BaseExecutor,
    on_event: Callable[[TaskWorkload, TaskEvent], None] | None,
) -> None:
    """Plan, queue, execute until the run is finished."""
    submitted: dict[tuple[int, int], TaskWorkload] = {}
    while True:
        now = pendulum.now("UTC")
        with db.transaction() as session:
            run = find_dagrun(session, dag_id=sdag.dag_id, run_id=run_id)
            assert run is not None
            tick = schedule_run(session, run=run, dag=sdag, now=now)
            if run.state in DAGRUN_FINISHED:
                return
            workloads = queue_scheduled(session, run=run, now=now)
        for workload in workloads:
            submitted[(workload.ti_id, workload.try_number)] = workload
            executor.submit(workload)
        events = executor.poll()
        for event in events:
            workload = submitted.pop((event.ti_id, event.try_number), None)
            if on_event is not None and workload is not None:
                on_event(workload, event)
        if not workloads and not events:
            _nap(tick.next_wakeup, sdag.dag_id)


def _nap(until: datetime | None, dag_id: str) -> None:
    if until is None:
        raise DagflowError(f"DAG run of {dag_id!r} cannot make progress: no task can run and none is waiting")
    delay = (until - pendulum.now("UTC")).total_seconds()
    time.sleep(min(max(delay, 0.01), MAX_NAP))


def _data_interval(dag: DAG, logical_date: datetime) -> tuple[datetime, datetime]:
    interval = dag.timetable.infer_manual_data_interval(run_after=logical_date)
    return (interval.start, interval.end)


def _inline_executor(settings: Settings, db: Database) -> BaseExecutor:
    from dagflow.executors.inline import InlineExecutor

    return InlineExecutor(settings, db=db)
