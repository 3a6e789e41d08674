"""A trivial ``EmptyOperator`` is marked ``success`` by the scheduler instead of being queued (Airflow's rule).

Real scheduler ticks on SQLite and PostgreSQL with the ``RecordingExecutor`` of
``test_tick.py``: what reaches the executor is exactly what ``executor.submitted`` holds.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.execution.logs import NOT_RUN_BY_SCHEDULER
from dagflow.models import DagRun, TaskInstance, TaskInstanceHistory
from dagflow.scheduler.loop import Scheduler
from dagflow.serialization.serialized_dag import deserialize_dag, serialize_dag
from dagflow.services.task_logs import task_log
from dagflow.state import DagRunState, TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, dags_dir, trigger

__all__ = ["dags_dir"]  # the fixture

TI = TaskInstanceState

AROUND = """
from dagflow.operators import PythonOperator

with DAG("around", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None) as dag:
    EmptyOperator(task_id="start") >> PythonOperator(task_id="work", python_callable=print) >> EmptyOperator(
        task_id="end"
    )
"""


def _settings(db: Database) -> Settings:
    return db.settings.replace(scheduler={"poll_interval": 0.0, "finish_empty_operators": True})


def _tis(db: Database, dag_id: str) -> dict[str, TaskInstance]:
    with db.transaction() as session:
        rows = session.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id)).all()
        session.expunge_all()
        return {ti.task_id: ti for ti in rows}


def _history(db: Database, dag_id: str) -> list[tuple[str, int, str, str | None]]:
    with db.transaction() as session:
        rows = session.execute(
            sa.select(
                TaskInstanceHistory.task_id,
                TaskInstanceHistory.try_number,
                TaskInstanceHistory.state,
                TaskInstanceHistory.reason,
            )
            .where(TaskInstanceHistory.dag_id == dag_id)
            .order_by(TaskInstanceHistory.id)
        )
        return [(t, n, TI(s).value, r) for t, n, s, r in rows]


def _run_state(db: Database, dag_id: str) -> DagRunState:
    with db.transaction() as session:
        return DagRunState(session.scalar(sa.select(DagRun.state).where(DagRun.dag_id == dag_id)))


@pytest.mark.parametrize("db_any", ["sqlite", "postgres"], indirect=True)
def test_empty_start_and_end_around_a_python_task_are_never_sent(db_any: Database, dags_dir: Path) -> None:
    add_dag(db_any, dags_dir, "around", AROUND)
    executor = RecordingExecutor(parallelism=1)  # one slot: the empties must not take it
    sched = Scheduler(_settings(db_any), db_any, executor)
    trigger(db_any, sched, "around", T0)
    for _ in range(3):
        sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["work"]
    start = _tis(db_any, "around")["start"]
    assert (start.state, start.try_number, start.duration) == (TI.SUCCESS, 1, 0.0)
    assert start.start_date == start.end_date == T0 and start.hostname is None
    executor.finish(db_any, executor.submitted)
    for _ in range(3):
        sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["work"]
    states = {task_id: ti.state for task_id, ti in _tis(db_any, "around").items()}
    assert states == {"start": TI.SUCCESS, "work": TI.SUCCESS, "end": TI.SUCCESS}
    assert _tis(db_any, "around")["end"].try_number == 1
    assert _run_state(db_any, "around") is DagRunState.SUCCESS
    assert [h for h in _history(db_any, "around") if h[0] != "work"] == [
        ("start", 1, "success", NOT_RUN_BY_SCHEDULER),
        ("end", 1, "success", NOT_RUN_BY_SCHEDULER),
    ]


@pytest.mark.parametrize("db_any", ["sqlite", "postgres"], indirect=True)
def test_an_empty_operator_with_an_outlet_or_a_callback_is_sent(db_any: Database, dags_dir: Path) -> None:
    body = """
    from dagflow import Asset

    def note(context):
        pass

    class Subclass(EmptyOperator):
        def execute(self, context):
            raise RuntimeError("Airflow never runs this either")

    with DAG("kept", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None) as dag:
        EmptyOperator(task_id="outlet", outlets=[Asset("s3://bucket/done")])
        EmptyOperator(task_id="on_success", on_success_callback=note)
        EmptyOperator(task_id="on_execute", on_execute_callback=note)
        EmptyOperator(task_id="inlet", inlets=[Asset("s3://bucket/in")])
        EmptyOperator(task_id="on_failure_only", on_failure_callback=note)
        Subclass(task_id="subclass")
    """
    add_dag(db_any, dags_dir, "kept", body)
    executor = RecordingExecutor()
    sched = Scheduler(_settings(db_any), db_any, executor)
    trigger(db_any, sched, "kept", T0)
    sched.tick(T0)
    sched.tick(T0)
    assert sorted(w.task_id for w in executor.submitted) == ["inlet", "on_execute", "on_success", "outlet"]
    states = {task_id: ti.state for task_id, ti in _tis(db_any, "kept").items()}
    assert states["on_failure_only"] is TI.SUCCESS and states["subclass"] is TI.SUCCESS


def test_the_setting_off_sends_every_empty_operator(db: Database, dags_dir: Path) -> None:
    add_dag(db, dags_dir, "around", AROUND)
    executor = RecordingExecutor()
    settings = db.settings.replace(scheduler={"poll_interval": 0.0, "finish_empty_operators": False})
    sched = Scheduler(settings, db, executor)
    trigger(db, sched, "around", T0)
    sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["start"]


def test_a_document_stored_without_the_field_runs_its_empty_operators() -> None:
    from dagflow import DAG
    from dagflow.operators import EmptyOperator

    with DAG("old", schedule=None) as dag:
        EmptyOperator(task_id="e")
    document = serialize_dag(dag)
    (task,) = document["dag"]["tasks"]
    assert task["inherits_from_empty_operator"] is True
    assert deserialize_dag(document).tasks["e"].finishes_without_running
    del task["inherits_from_empty_operator"]
    assert not deserialize_dag(document).tasks["e"].finishes_without_running


def test_two_schedulers_on_postgresql_finish_each_empty_operator_once(pg_db: Database, dags_dir: Path) -> None:
    body = """
    with DAG("wide", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None) as dag:
        for i in range(40):
            EmptyOperator(task_id=f"e{i}")
    """
    add_dag(pg_db, dags_dir, "wide", body)
    executors = [RecordingExecutor(), RecordingExecutor()]
    scheds = [Scheduler(_settings(pg_db), pg_db, e) for e in executors]
    trigger(pg_db, scheds[0], "wide", T0)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(sched: Scheduler) -> None:
        try:
            barrier.wait()
            for _ in range(3):
                sched.tick(T0)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in scheds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not executors[0].submitted and not executors[1].submitted
    history = _history(pg_db, "wide")
    assert sorted(h[0] for h in history) == sorted(f"e{i}" for i in range(40))  # one try each
    assert {ti.try_number for ti in _tis(pg_db, "wide").values()} == {1}


def test_the_log_view_says_why_there_is_no_log(db: Database, dags_dir: Path) -> None:
    add_dag(db, dags_dir, "around", AROUND)
    sched = Scheduler(_settings(db), db, RecordingExecutor())
    trigger(db, sched, "around", T0)
    sched.tick(T0)
    kwargs = {"dag_id": "around", "task_id": "start", "run_id": "manual_1"}
    assert task_log(db.settings, db, **kwargs) == NOT_RUN_BY_SCHEDULER + "\n"
    assert task_log(db.settings, db, try_number=1, **kwargs) == NOT_RUN_BY_SCHEDULER + "\n"
    assert task_log(db.settings, db, try_number=1, offset=10, **kwargs) == ""


def test_each_expanded_empty_operator_is_finished_without_running(db: Database, dags_dir: Path) -> None:
    body = """
    with DAG("mapped", start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), schedule=None) as dag:
        EmptyOperator.partial(task_id="m").expand(doc_md=["a", "b", "c"])
    """
    add_dag(db, dags_dir, "mapped", body)
    executor = RecordingExecutor()
    sched = Scheduler(_settings(db), db, executor)
    trigger(db, sched, "mapped", T0)
    for _ in range(3):
        sched.tick(T0)
    assert executor.submitted == []
    assert [(h[0], h[1], h[2]) for h in _history(db, "mapped")] == [("m", 1, "success")] * 3
    assert _run_state(db, "mapped") is DagRunState.SUCCESS


def test_the_queue_cursor_path_finishes_them_too(db: Database, dags_dir: Path) -> None:
    add_dag(db, dags_dir, "around", AROUND)
    executor = RecordingExecutor(parallelism=1)
    sched = Scheduler(_settings(db), db, executor)
    sched.known_tis.queue.min_kept_tis = 0  # the cursor, not the candidates query, gives the windows
    trigger(db, sched, "around", T0)
    for _ in range(3):
        sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["work"]
    executor.finish(db, executor.submitted)
    for _ in range(3):
        sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["work"]
    assert _run_state(db, "around") is DagRunState.SUCCESS
