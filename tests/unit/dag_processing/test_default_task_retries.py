"""``core.default_task_retries``: operators that set no ``retries`` get it, through the real DAG processor and run."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.executors.inline import InlineExecutor
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.services.dag_runs import serialized_dag, set_paused
from dagflow.state import DagRunType

DAGS = """
import pendulum
from dagflow import DAG
from dagflow.operators import BashOperator, EmptyOperator

START = pendulum.datetime(2024, 1, 1, tz="UTC")

with DAG("retrying", schedule=None, start_date=START):
    BashOperator(task_id="fails", bash_command="exit 1", retry_delay=0)
    EmptyOperator(task_id="explicit_zero", retries=0)
    EmptyOperator.partial(task_id="mapped").expand(doc_md=["a"])

with DAG("from_default_args", schedule=None, start_date=START, default_args={"retries": 1}):
    EmptyOperator(task_id="given")
"""


def test_operators_without_retries_get_the_configured_default(settings: Settings, db: Database) -> None:
    configured = settings.replace(core={"default_task_retries": 2}, scheduler={"poll_interval": 0.0})
    folder = configured.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "retrying.py").write_text(textwrap.dedent(DAGS))
    processor = DagProcessor(configured, db, folders=[folder])
    try:
        processor.scan(pendulum.now("UTC"))
    finally:
        processor.close()
    with db.transaction(readonly=True) as session:
        retrying, given = serialized_dag(session, "retrying"), serialized_dag(session, "from_default_args")
    assert {t: retrying.tasks[t].retries for t in ("fails", "explicit_zero", "mapped")} == {
        "fails": 2,
        "explicit_zero": 0,
        "mapped": 2,
    }
    assert given.tasks["given"].retries == 1  # default_args win over the configuration

    set_paused(configured, db, "retrying", paused=False)
    sched = Scheduler(configured, db, InlineExecutor(configured, db=db))
    now = pendulum.now("UTC")
    with db.transaction() as session:
        create_dagrun(
            session, dag=retrying, run_id="r1", run_type=DagRunType.MANUAL,
            logical_date=now, data_interval=(now, now), now=now,
        )  # fmt: skip
    for _ in range(20):
        sched.tick(datetime.now(UTC))
        with db.transaction(readonly=True) as session:
            if session.scalar(sa.select(DagRun.state).where(DagRun.run_id == "r1")) == "failed":
                break
    with db.transaction(readonly=True) as session:
        fails = session.scalars(sa.select(TaskInstance).where(TaskInstance.task_id == "fails")).one()
    assert (fails.state, fails.try_number) == ("failed", 3)  # the first try and the two default retries
