"""Rows for service and page tests: two DAGs stored as the DAG processor does, runs with task instances in given states."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pendulum
import sqlalchemy as sa

from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.models import DagRun, TaskInstance
from dagflow.services.dag_runs import trigger_dag
from dagflow.state import DagRunState, TaskInstanceState

DAG_FILE = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("etl", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["etl", "nightly"]):
    extract = EmptyOperator(task_id="extract", retries=1)
    load = EmptyOperator(task_id="load")
    extract >> load

with DAG("report", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["reports"]):
    EmptyOperator(task_id="render")
"""


def store_dags(db: Database) -> None:
    """Write ``DAG_FILE`` into the DAG folder and store its DAGs."""
    folder = db.settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seed_dags.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [folder], paused_at_creation=True)


def add_run(
    db: Database,
    dag_id: str,
    day: int,
    run_state: str,
    ti_states: Mapping[str, str | None],
    *,
    hour: int = 0,
    month: int = 3,
) -> str:
    """A run of ``dag_id`` on 2024-``month``-``day`` whose task instances are set to ``ti_states``; its run id."""
    when = pendulum.datetime(2024, month, day, hour, tz="UTC")
    run_id = trigger_dag(db.settings, db, dag_id, logical_date=when, run_id=f"manual__{dag_id}_{day}_{hour}").run_id
    with db.transaction() as session:
        started = when.add(minutes=5)
        for task_id, state in ti_states.items():
            values: dict[str, object] = {"state": TaskInstanceState(state) if state else TaskInstanceState.NONE}
            if state:
                values |= {"try_number": 1, "start_date": started, "end_date": started.add(seconds=30 * day)}
                values["duration"] = 30.0 * day
            session.execute(
                sa.update(TaskInstance)
                .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
                .values(**values)
            )
        session.execute(
            sa.update(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            .values(state=DagRunState(run_state), start_date=started)
        )
    return run_id
