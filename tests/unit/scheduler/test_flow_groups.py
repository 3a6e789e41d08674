"""Flow groups: ``TaskGroup(max_active_tasks=…, sequential=…)`` through the real scheduler's queueing."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

import pendulum
import pytest

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.exceptions import DagDefinitionError
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.sdk.dag import DAG
from dagflow.sdk.taskgroup import TaskGroup, task_group
from dagflow.serialization.serialized_dag import deserialize_dag, serialize_dag
from dagflow.services.dependencies import task_instance_dependencies
from dagflow.state import DagRunType, TaskInstanceState
from dagflow.testing import run_dag

TI = TaskInstanceState
T0 = pendulum.datetime(2024, 1, 4, 3, 0, tz="UTC")

LIMITED = """
import pendulum
from dagflow import DAG
from dagflow.operators import BashOperator, EmptyOperator
from dagflow.sdk.taskgroup import TaskGroup

with DAG("limited", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), max_active_tasks=50):
    with TaskGroup("outer", max_active_tasks=3):
        BashOperator.partial(task_id="fan").expand(bash_command=["1", "2", "3", "4", "5"])
        with TaskGroup("inner", max_active_tasks=1):
            EmptyOperator(task_id="a")
            EmptyOperator(task_id="b")
    EmptyOperator(task_id="free_1")
    EmptyOperator(task_id="free_2")
"""


class RecordingExecutor(BaseExecutor):
    """Keeps submitted workloads; nothing runs until the test finishes them."""

    def __init__(self) -> None:
        super().__init__(parallelism=64)
        self.submitted: list[TaskWorkload] = []
        self.events: list[TaskEvent] = []

    def submit(self, workload: TaskWorkload) -> None:
        self._track(workload)
        self.submitted.append(workload)

    def poll(self) -> list[TaskEvent]:
        events, self.events = self.events, []
        for event in events:
            self._untrack(event)
        return events

    def finish(self, db: Database, workloads: Iterable[TaskWorkload]) -> None:
        with db.transaction() as session:
            for w in workloads:
                values = {"try_number": w.try_number, "start_date": T0}
                set_ti_state(session, [w.ti_id], to=TI.RUNNING, expected=[TI.QUEUED], values=values)
                set_ti_state(session, [w.ti_id], to=TI.SUCCESS, expected=[TI.RUNNING], values={"end_date": T0})
                self.events.append(TaskEvent(w.ti_id, w.try_number, TI.SUCCESS))


def _in_group(workloads: Iterable[TaskWorkload], run_id: str, prefix: str) -> list[TaskWorkload]:
    return [w for w in workloads if w.run_id == run_id and w.task_id.startswith(prefix)]


def test_group_limit_holds_per_run_for_mapped_and_nested_tasks(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "limited.py").write_text(textwrap.dedent(LIMITED))
    sync_folders(db, [folder], paused_at_creation=False)
    executor = RecordingExecutor()
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, executor)
    for n, run_id in enumerate(("r1", "r2")):
        with db.transaction() as session:
            entry = sched.store.get(session, "limited")
            assert entry is not None
            when = T0.add(seconds=n)
            create_dagrun(
                session, dag=entry.dag, run_id=run_id, run_type=DagRunType.MANUAL,
                logical_date=when, data_interval=(when, when), now=when,
            )  # fmt: skip
    finished: list[TaskWorkload] = []
    rounds = 0
    while len(finished) < 2 * 9 and rounds < 20:
        rounds += 1
        sched.tick(T0)
        sched.tick(T0)  # expand the mapped task, then queue what fits
        active = [w for w in executor.submitted if w not in finished]
        for run_id in ("r1", "r2"):
            assert len(_in_group(active, run_id, "outer.")) <= 3
            assert len(_in_group(active, run_id, "outer.inner.")) <= 1
        if rounds == 1:  # each run fills its own group: the limit is per run, tasks outside run freely
            for run_id in ("r1", "r2"):
                assert len(_in_group(active, run_id, "outer.")) == 3
                assert len(_in_group(active, run_id, "free_")) == 2
            waiting = next(t for t in ("outer.inner.a", "outer.inner.b") if t not in {w.task_id for w in active})
            held = task_instance_dependencies(db, dag_id="limited", run_id="r1", task_id=waiting)
            assert [d.name for d in held] == ["Task Group Concurrency", "Task Group Concurrency"]  # inner and outer
        executor.finish(db, active)
        finished.extend(active)
    assert len(finished) == 18
    assert rounds >= 3  # 7 task instances in the group, 3 at a time


def test_sequential_group_chains_direct_children_in_definition_order() -> None:
    from dagflow.operators import EmptyOperator

    with DAG("seq", schedule=None) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("steps", sequential=True) as steps:
            EmptyOperator(task_id="one")
            with TaskGroup("pair"):
                EmptyOperator(task_id="left")
                EmptyOperator(task_id="right")
            EmptyOperator(task_id="two")
        start >> steps
    tasks = dag.task_dict
    assert tasks["steps.one"].downstream_task_ids == {"steps.pair.left", "steps.pair.right"}
    assert tasks["steps.pair.left"].downstream_task_ids == {"steps.two"}
    assert tasks["steps.pair.right"].downstream_task_ids == {"steps.two"}
    assert tasks["steps.pair.left"].upstream_task_ids == {"steps.one"}  # nested group not chained inside
    assert tasks["steps.one"].upstream_task_ids == {"start"}

    again = deserialize_dag(serialize_dag(dag))
    group = again.task_group.children[0] if again.task_group else None
    assert group is not None and group.group_id == "steps" and group.sequential and group.max_active_tasks is None


def test_flow_group_options_are_serialized_only_when_set() -> None:
    from dagflow.operators import EmptyOperator

    with DAG("plain", schedule=None) as dag:
        with TaskGroup("g"):
            EmptyOperator(task_id="t")
    encoded = serialize_dag(dag)
    assert "max_active_tasks" not in encoded["dag"]["task_group"]["children"][0]
    assert "sequential" not in encoded["dag"]["task_group"]["children"][0]

    with DAG("limited", schedule=None) as dag2:

        @task_group(max_active_tasks=2)
        def grp() -> None:
            EmptyOperator(task_id="t")

        grp()
    decoded = deserialize_dag(serialize_dag(dag2))
    assert decoded.group_limits("grp.t") == (("grp", 2),)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_group_limit_is_one_clear_error(bad: object) -> None:
    with DAG("bad", schedule=None), pytest.raises(DagDefinitionError, match="max_active_tasks must be a positive"):
        TaskGroup("g", max_active_tasks=bad)  # type: ignore[arg-type]


def test_sequential_group_runs_in_order_through_run_dag() -> None:
    from dagflow.sdk.decorators import task

    with DAG("seq_run", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")) as dag:
        with TaskGroup("steps", sequential=True, max_active_tasks=1):
            for name in ("c", "a", "b"):
                task(task_id=name)(lambda: None)()
    report = run_dag(dag, fork=False)
    rows = sorted((report.ti(f"steps.{n}") for n in "cab"), key=lambda r: r["start_date"])
    assert [r["task_id"] for r in rows] == ["steps.c", "steps.a", "steps.b"]
    assert all(r["state"] == "success" for r in rows)
    assert rows[0]["end_date"] <= rows[1]["start_date"] <= rows[1]["end_date"] <= rows[2]["start_date"]
