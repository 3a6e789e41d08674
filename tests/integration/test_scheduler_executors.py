"""The scheduler with each executor ``core.executor`` can name (Celery has its own tests)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.local import LocalExecutor
from dagflow.executors.registry import executor_from_settings
from dagflow.executors.sequential import SequentialExecutor
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DagRunState, DagRunType, TaskInstanceState

DAG_FILE = """
from dagflow import DAG
from dagflow.operators import PythonOperator

def fail():
    raise ValueError("no")

with DAG("mixed", schedule=None):
    ok = PythonOperator(task_id="ok", python_callable=lambda: 1)
    ok >> PythonOperator(task_id="bad", python_callable=fail, retries=0)
    ok >> PythonOperator(task_id="also_ok", python_callable=lambda: 2)
"""


def manual_run(scheduler: Scheduler, db: Database, dag_id: str, run_id: str = "r1") -> None:
    """Create a manual run of the stored ``dag_id`` now."""
    now = pendulum.now("UTC")
    with db.transaction() as session:
        entry = scheduler.store.get(session, dag_id)
        assert entry is not None
        create_dagrun(
            session,
            dag=entry.dag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            logical_date=now,
            data_interval=(now, now),
            now=now,
        )


def test_loader_picks_the_configured_executor(settings: Settings) -> None:
    assert isinstance(executor_from_settings(settings.replace(core={"executor": "LocalExecutor"})), LocalExecutor)
    sequential = executor_from_settings(settings.replace(core={"executor": "SequentialExecutor"}))
    assert isinstance(sequential, SequentialExecutor)
    assert sequential.slots_free == 1


def test_sequential_executor_runs_a_dag_to_its_end(settings: Settings, db: Database, tmp_path: Path) -> None:
    dags = settings.core.dags_folder  # the worker loads DAG files from the configured folders only
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "mixed.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [dags], paused_at_creation=False)
    scheduler = Scheduler(settings, db, SequentialExecutor(settings, db=db))
    manual_run(scheduler, db, "mixed")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not scheduler.tick().runs_finished:
        pass
    with db.transaction() as session:
        assert session.scalars(sa.select(DagRun.state)).one() == DagRunState.FAILED
        states = dict(session.execute(sa.select(TaskInstance.task_id, TaskInstance.state)).all())
    assert states == {
        "ok": TaskInstanceState.SUCCESS,
        "bad": TaskInstanceState.FAILED,
        "also_ok": TaskInstanceState.SUCCESS,
    }


PER_RUN_FILE = """
from dagflow import DAG
from dagflow.operators import BashOperator

with DAG("for_each", schedule=None, max_active_tasks=16):
    BashOperator.partial(task_id="each", max_active_tis_per_dagrun=3).expand(
        bash_command=[f"sleep 0.2; echo {i}" for i in range(20)]
    )
"""


def _most_at_once(spans: list[tuple[object, object]]) -> int:
    """The largest number of [start, end] intervals that overlap at one instant."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    busy = most = 0
    for _, step in edges:
        busy += step
        most = max(most, busy)
    return most


def test_max_active_tis_per_dagrun_holds_with_the_local_executor(settings: Settings, db: Database) -> None:
    dags = settings.core.dags_folder
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "for_each.py").write_text(textwrap.dedent(PER_RUN_FILE))
    sync_folders(db, [dags], paused_at_creation=False)
    executor = LocalExecutor(settings, db=db, parallelism=8)
    scheduler = Scheduler(settings.replace(scheduler={"poll_interval": 0.05}), db, executor)
    manual_run(scheduler, db, "for_each")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not scheduler.tick().runs_finished:
            scheduler.wakeup.wait(0.05)
            scheduler.wakeup.clear()
    finally:
        executor.shutdown()
    with db.transaction() as session:
        rows = session.execute(
            sa.select(TaskInstance.state, TaskInstance.start_date, TaskInstance.end_date).where(
                TaskInstance.task_id == "each"
            )
        ).all()
        run_state = session.scalars(sa.select(DagRun.state)).one()
    assert run_state == DagRunState.SUCCESS
    assert [state for state, _, _ in rows] == [TaskInstanceState.SUCCESS] * 20
    assert _most_at_once([(start, end) for _, start, end in rows]) <= 3
