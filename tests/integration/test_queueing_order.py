"""The order in which scheduled task instances are queued, across runs and DAGs (SQLite and PostgreSQL).

``scheduler.older_runs_first`` (the default): the priority tier (the highest
``priority_weight`` set on the task or the tasks its weight rule counts) first, then the
run's logical date, then the weight rule's total; ``False``: Airflow's order, the total
first. Each test gives the executor one free slot and looks at what the scheduler queues.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.scheduler.loop import Scheduler
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, trigger

CHAIN = """
    with DAG("{dag_id}", schedule=None, max_active_runs=16):
        EmptyOperator(task_id="first") >> EmptyOperator(task_id="second"{second_args})
"""


def _scheduler(db: Database, tmp_path: Path, *, older_runs_first: bool = True) -> tuple[Scheduler, RecordingExecutor]:
    settings: Settings = db.settings.replace(
        scheduler={"poll_interval": 0.0, "older_runs_first": older_runs_first},
        core={"dags_folder": tmp_path / "dags"},
    )
    executor = RecordingExecutor(parallelism=1)
    return Scheduler(settings, db, executor), executor


def _queued_one_after_the_other(db: Database, sched: Scheduler, executor: RecordingExecutor, count: int) -> list[str]:
    """Tick, finish what was queued, ``count`` times: ``dag_id/run_id/task_id`` in queueing order."""
    for _ in range(count):
        sched.tick(T0)
        executor.finish(db, executor.submitted[-1:])
    return [f"{w.dag_id}/{w.run_id}/{w.task_id}" for w in executor.submitted]


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


@pytest.mark.parametrize(
    ("older_runs_first", "expected"),
    [
        (True, ["chain/old/first", "chain/old/second", "chain/new/first", "chain/new/second"]),
        (False, ["chain/old/first", "chain/new/first", "chain/old/second", "chain/new/second"]),
    ],
    ids=["older-runs-first", "airflow-order"],
)
def test_older_runs_finish_first_at_equal_priority(
    db_any: Database, dags_dir: Path, tmp_path: Path, older_runs_first: bool, expected: list[str]
) -> None:
    """The default ``downstream`` rule gives ``first`` weight 2 and ``second`` 1: the old run's second still goes first.

    With ``older_runs_first = false`` (Airflow's order) the total decides: every run's first task goes before any second.
    """
    add_dag(db_any, dags_dir, "chain", CHAIN.format(dag_id="chain", second_args=""))
    sched, executor = _scheduler(db_any, tmp_path, older_runs_first=older_runs_first)
    trigger(db_any, sched, "chain", T0, run_id="old")
    trigger(db_any, sched, "chain", T0 + timedelta(minutes=1), run_id="new")
    assert _queued_one_after_the_other(db_any, sched, executor, 4) == expected


def test_an_explicit_priority_weight_wins_across_dags(db_any: Database, dags_dir: Path, tmp_path: Path) -> None:
    """A newer run of a DAG whose last task has ``priority_weight=5`` goes before an older run of another DAG.

    Under ``downstream`` the upstream ``first`` carries the tier of what it unblocks (5), as the
    sum did in Airflow, so the whole path to the important task jumps the queue.
    """
    add_dag(db_any, dags_dir, "plain", CHAIN.format(dag_id="plain", second_args=""))
    add_dag(db_any, dags_dir, "urgent", CHAIN.format(dag_id="urgent", second_args=", priority_weight=5"))
    sched, executor = _scheduler(db_any, tmp_path)
    trigger(db_any, sched, "plain", T0, run_id="old")
    trigger(db_any, sched, "urgent", T0 + timedelta(minutes=1), run_id="new")
    assert _queued_one_after_the_other(db_any, sched, executor, 4) == [
        "urgent/new/first",
        "urgent/new/second",
        "plain/old/first",
        "plain/old/second",
    ]
