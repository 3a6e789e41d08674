"""``Scheduler.tick(now)`` with a fake clock on a real (SQLite) metadata DB.

DAG files are written to a temp folder and synced to the DB; a ``RecordingExecutor``
keeps the workloads it is given so each test decides how and when they end.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.models import DagModel, DagRun, Pool, TaskInstance
from dagflow.models.transitions import set_dagrun_state, set_ti_state
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DagRunState, DagRunType, TaskInstanceState

TI = TaskInstanceState
T0 = pendulum.datetime(2024, 1, 4, 3, 0, tz="UTC")

HEADER = """
import pendulum
from datetime import timedelta
from dagflow import DAG
from dagflow.operators import EmptyOperator
"""


class RecordingExecutor(BaseExecutor):
    """Keeps submitted workloads; nothing runs until the test says so."""

    def __init__(self, parallelism: int = 32) -> None:
        super().__init__(parallelism=parallelism)
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

    def finish(self, db: Database, workloads: Iterable[TaskWorkload], state: TaskInstanceState = TI.SUCCESS) -> None:
        """Play the worker: claim and end each workload's try."""
        with db.transaction() as session:
            for w in workloads:
                set_ti_state(
                    session,
                    [w.ti_id],
                    to=TI.RUNNING,
                    expected=[TI.QUEUED],
                    values={"try_number": w.try_number, "start_date": T0},
                )
                set_ti_state(session, [w.ti_id], to=state, expected=[TI.RUNNING], values={"end_date": T0})
                self.events.append(TaskEvent(w.ti_id, w.try_number, state))


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Every tick examines every running run."""
    return settings.replace(scheduler={"poll_interval": 0.0})


def add_dag(db: Database, folder: Path, name: str, body: str) -> None:
    (folder / f"{name}.py").write_text(HEADER + textwrap.dedent(body))
    sync_folders(db, [folder], paused_at_creation=False)


def runs(db: Database, dag_id: str) -> list[DagRun]:
    with db.transaction() as session:
        return list(session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date)))


def ti_states(db: Database, dag_id: str) -> dict[str, TaskInstanceState]:
    with db.transaction() as session:
        rows = session.execute(sa.select(TaskInstance.task_id, TaskInstance.state).where(TaskInstance.dag_id == dag_id))
        return {task_id: state for task_id, state in rows}


def trigger(db: Database, sched: Scheduler, dag_id: str, when: datetime, run_id: str = "manual_1") -> None:
    with db.transaction() as session:
        entry = sched.store.get(session, dag_id)
        assert entry is not None
        create_dagrun(
            session,
            dag=entry.dag,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            logical_date=when,
            data_interval=(when, when),
            now=when,
        )


# --- run creation -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("catchup", "expected"),
    [
        (True, ["2024-01-01", "2024-01-02", "2024-01-03"]),
        (False, ["2024-01-03"]),
    ],
)
def test_cron_runs_respect_catchup(
    fast: Settings, db: Database, dags_dir: Path, catchup: bool, expected: list[str]
) -> None:
    add_dag(
        db,
        dags_dir,
        "daily",
        f"""
        DAG("daily", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1), catchup={catchup})
    """,
    )
    sched = Scheduler(fast, db, RecordingExecutor())
    report = sched.tick(T0)
    created = runs(db, "daily")
    assert [r.logical_date.date().isoformat() for r in created] == expected
    assert report.runs_created == len(expected)
    last = created[-1]
    assert (last.data_interval_end - last.data_interval_start) == timedelta(days=1)
    with db.transaction() as session:
        model = session.get(DagModel, "daily")
        assert model is not None
        assert model.next_dagrun == pendulum.datetime(2024, 1, 4)
        assert model.next_dagrun_create_after == pendulum.datetime(2024, 1, 5)
    assert sched.tick(T0 + timedelta(hours=1)).runs_created == 0


def test_timedelta_schedule_without_catchup_takes_latest_interval(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "every6h",
        """
        DAG("every6h", schedule=timedelta(hours=6), start_date=pendulum.datetime(2024, 1, 1))
    """,
    )
    sched = Scheduler(fast, db, RecordingExecutor())
    sched.tick(T0)
    (run,) = runs(db, "every6h")
    assert run.data_interval_end <= T0
    assert T0 - run.data_interval_end < timedelta(hours=6)
    assert run.run_type == "scheduled"
    sched.tick(T0 + timedelta(hours=6))
    assert len(runs(db, "every6h")) == 2


def test_max_active_runs_limits_creation_and_start(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "capped",
        """
        with DAG("capped", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1), catchup=True,
                 max_active_runs=2):
            EmptyOperator(task_id="a")
    """,
    )
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    sched.tick(T0)
    assert [r.state for r in runs(db, "capped")] == [DagRunState.RUNNING, DagRunState.RUNNING]
    executor.finish(db, executor.submitted)
    sched.tick(T0)  # the two runs finish
    sched.tick(T0)  # room again: the third interval gets its run
    assert [r.state for r in runs(db, "capped")] == [DagRunState.SUCCESS, DagRunState.SUCCESS, DagRunState.RUNNING]


def test_paused_dag_gets_no_runs(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "paused",
        """
        DAG("paused", schedule="@daily", start_date=pendulum.datetime(2024, 1, 1))
    """,
    )
    with db.transaction() as session:
        session.execute(sa.update(DagModel).values(is_paused=True))
    Scheduler(fast, db, RecordingExecutor()).tick(T0)
    assert runs(db, "paused") == []


# --- queueing under limits --------------------------------------------------------------
FOUR_TASKS = """
    with DAG("{dag_id}", schedule=None, max_active_tasks={mat}):
        for i, w in enumerate([1, 4, 2, 3]):
            EmptyOperator(task_id=f"t{{i}}_w{{w}}", priority_weight=w, weight_rule="absolute", pool="{pool}")
"""


def test_pool_slots_and_priority_decide_order(fast: Settings, db: Database, dags_dir: Path) -> None:
    with db.transaction() as session:
        session.add(Pool(name="small", slots=2))
    add_dag(db, dags_dir, "pooled", FOUR_TASKS.format(dag_id="pooled", mat=16, pool="small"))
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "pooled", T0)
    sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["t1_w4", "t3_w3"]
    executor.finish(db, executor.submitted[:1])
    sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["t1_w4", "t3_w3", "t2_w2"]


def test_a_pool_of_minus_one_slots_is_unlimited(fast: Settings, db: Database, dags_dir: Path) -> None:
    with db.transaction() as session:
        session.add(Pool(name="open", slots=-1))
    add_dag(db, dags_dir, "unlimited", FOUR_TASKS.format(dag_id="unlimited", mat=16, pool="open"))
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "unlimited", T0)
    sched.tick(T0)
    assert sorted(w.task_id for w in executor.submitted) == ["t0_w1", "t1_w4", "t2_w2", "t3_w3"]


def test_parallelism_bounds_queueing(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(db, dags_dir, "wide", FOUR_TASKS.format(dag_id="wide", mat=16, pool="default_pool"))
    executor = RecordingExecutor(parallelism=3)
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "wide", T0)
    report = sched.tick(T0)
    assert report.tis_queued == 3
    assert list(ti_states(db, "wide").values()).count(TI.SCHEDULED) == 1


def test_max_active_tasks_per_dag(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(db, dags_dir, "narrow", FOUR_TASKS.format(dag_id="narrow", mat=2, pool="default_pool"))
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "narrow", T0)
    sched.tick(T0)
    assert [w.task_id for w in executor.submitted] == ["t1_w4", "t3_w3"]


def test_max_active_tis_per_dag_across_runs(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "single",
        """
        with DAG("single", schedule=None):
            EmptyOperator(task_id="only", max_active_tis_per_dag=1)
    """,
    )
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "single", T0, "r1")
    trigger(db, sched, "single", T0 + timedelta(seconds=1), "r2")
    sched.tick(T0)
    assert [w.run_id for w in executor.submitted] == ["r1"]
    executor.finish(db, executor.submitted)
    sched.tick(T0)
    assert [w.run_id for w in executor.submitted] == ["r1", "r2"]


# --- run timeouts, past dependencies, a whole run ---------------------------------------
def test_dagrun_timeout_fails_run_and_stops_tasks(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "slow",
        """
        with DAG("slow", schedule=None, dagrun_timeout=timedelta(minutes=5)):
            EmptyOperator(task_id="first") >> EmptyOperator(task_id="second")
    """,
    )
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "slow", T0)
    sched.tick(T0)
    with db.transaction() as session:  # the worker claims "first"
        set_ti_state(
            session, [executor.submitted[0].ti_id], to=TI.RUNNING, expected=[TI.QUEUED], values={"try_number": 1}
        )
    report = sched.tick(T0 + timedelta(minutes=6))
    assert report.runs_timed_out == 1
    (run,) = runs(db, "slow")
    assert run.state == DagRunState.FAILED
    assert ti_states(db, "slow") == {"first": TI.FAILED, "second": TI.SKIPPED}


def test_depends_on_past_waits_for_previous_run(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "past",
        """
        with DAG("past", schedule=None):
            EmptyOperator(task_id="step", depends_on_past=True)
    """,
    )
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "past", T0, "r1")
    trigger(db, sched, "past", T0 + timedelta(days=1), "r2")
    sched.tick(T0)
    assert [w.run_id for w in executor.submitted] == ["r1"]
    executor.finish(db, executor.submitted)
    sched.tick(T0)
    sched.tick(T0)
    assert [w.run_id for w in executor.submitted] == ["r1", "r2"]


def test_chain_runs_to_success_with_one_deserialization(fast: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "chain",
        """
        with DAG("chain", schedule=None):
            EmptyOperator(task_id="a") >> EmptyOperator(task_id="b") >> EmptyOperator(task_id="c")
    """,
    )
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "chain", T0)
    for _ in range(6):
        sched.tick(T0)
        executor.finish(db, [w for w in executor.submitted if ti_states(db, "chain")[w.task_id] == TI.QUEUED])
    (run,) = runs(db, "chain")
    assert run.state == DagRunState.SUCCESS
    assert [w.task_id for w in executor.submitted] == ["a", "b", "c"]
    assert sched.store.deserializations == 1


def test_only_marked_runs_are_examined_between_full_passes(settings: Settings, db: Database, dags_dir: Path) -> None:
    add_dag(
        db,
        dags_dir,
        "lazy",
        """
        with DAG("lazy", schedule=None):
            EmptyOperator(task_id="a")
    """,
    )
    executor = RecordingExecutor()
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 60.0}), db, executor)
    trigger(db, sched, "lazy", T0)
    assert sched.tick(T0).runs_examined == 1  # first tick: a full pass
    assert sched.tick(T0 + timedelta(seconds=1)).runs_examined == 0
    executor.finish(db, executor.submitted)
    assert sched.tick(T0 + timedelta(seconds=2)).runs_examined == 1  # the event marked it
    with db.transaction() as session:
        (run,) = session.scalars(sa.select(DagRun)).all()
        assert run.state == DagRunState.SUCCESS
        assert not set_dagrun_state(session, run.id, to=DagRunState.SUCCESS, expected=[DagRunState.RUNNING])


def test_run_loop_stops_promptly_from_another_thread(settings: Settings, db: Database) -> None:
    import threading
    import time

    sched = Scheduler(settings.replace(scheduler={"poll_interval": 30.0}), db, RecordingExecutor(), clock=lambda: T0)
    timer = threading.Timer(0.3, sched.stop)
    timer.start()
    began = time.monotonic()
    ticks = sched.run()
    assert time.monotonic() - began < 5
    assert ticks >= 1


def test_run_loop_honours_num_runs(settings: Settings, db: Database) -> None:
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, RecordingExecutor(), clock=lambda: T0)
    assert sched.run(num_runs=3) == 3


MAPPED_PER_RUN = """
    from dagflow.operators import BashOperator
    with DAG("per_run", schedule=None):
        BashOperator.partial(task_id="each", max_active_tis_per_dagrun=3).expand(
            bash_command=[f"echo {i}" for i in range(20)]
        )
"""


def test_max_active_tis_per_dagrun_limits_each_run_and_is_explained(
    fast: Settings, db: Database, dags_dir: Path
) -> None:
    from dagflow.services.dependencies import task_instance_dependencies
    from dagflow.services.failed_deps import failed_deps

    add_dag(db, dags_dir, "per_run", MAPPED_PER_RUN)
    executor = RecordingExecutor()
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "per_run", T0, "r1")
    trigger(db, sched, "per_run", T0 + timedelta(seconds=1), "r2")
    sched.tick(T0)
    sched.tick(T0)
    by_run = {run: sum(w.run_id == run for w in executor.submitted) for run in ("r1", "r2")}
    assert by_run == {"r1": 3, "r2": 3}  # per run, map indexes included; not across runs
    waiting = max(w.map_index for w in executor.submitted) + 1
    names = [
        d.name for d in task_instance_dependencies(db, dag_id="per_run", run_id="r1", task_id="each", map_index=waiting)
    ]
    assert "Task Concurrency Per Run" in names
    reasons = failed_deps(db, "per_run", "each", "r1", map_index=waiting)["reasons"]
    assert any("max_active_tis_per_dagrun" in r["detail"] for r in reasons)
    executor.finish(db, [w for w in executor.submitted if w.run_id == "r1"][:2])
    sched.tick(T0)
    assert sum(w.run_id == "r1" for w in executor.submitted) == 5


@pytest.mark.parametrize(
    ("dag_limit", "task_limit", "busy_queued"),
    [("max_active_tasks=2", "", 2), ("max_active_tasks=16", ", max_active_tis_per_dag=1", 1)],
)
def test_a_dag_held_by_a_limit_does_not_hide_lower_priority_work(
    fast: Settings, db: Database, dags_dir: Path, dag_limit: str, task_limit: str, busy_queued: int
) -> None:
    """Candidates are read in windows the size of the free slots; a held DAG's rows don't fill every window."""
    add_dag(
        db,
        dags_dir,
        "busy",
        f"""
        from dagflow.operators import BashOperator
        with DAG("busy", schedule=None, {dag_limit}):
            BashOperator.partial(task_id="each", priority_weight=10{task_limit}).expand(
                bash_command=[f"echo {{i}}" for i in range(40)]
            )
    """,
    )
    add_dag(
        db,
        dags_dir,
        "small",
        """
        with DAG("small", schedule=None):
            EmptyOperator(task_id="only")
    """,
    )
    executor = RecordingExecutor(parallelism=4)
    sched = Scheduler(fast, db, executor)
    trigger(db, sched, "busy", T0)
    trigger(db, sched, "small", T0 + timedelta(seconds=1))
    sched.tick(T0)
    queued = [w.dag_id for w in executor.submitted]
    assert sorted(queued) == ["busy"] * busy_queued + ["small"]


def test_a_long_catchup_is_created_in_bounded_passes_each_run_once(
    fast: Settings, db: Database, dags_dir: Path
) -> None:
    from dagflow.scheduler.run_creation import MAX_RUNS_PER_PASS

    due = MAX_RUNS_PER_PASS + 50
    add_dag(
        db,
        dags_dir,
        "minutely",
        f"""
        DAG("minutely", schedule="* * * * *", start_date=pendulum.datetime(2024, 1, 4, 3, 0) - timedelta(minutes={due}),
            catchup=True, max_active_runs=1000)
    """,
    )
    sched = Scheduler(fast, db, RecordingExecutor())
    first = sched.tick(T0)
    assert first.runs_created == MAX_RUNS_PER_PASS
    assert first.next_wakeup is not None and first.next_wakeup <= T0  # come back at once for the rest
    assert sched.tick(T0).runs_created == due - MAX_RUNS_PER_PASS
    assert sched.tick(T0).runs_created == 0
    dates = [r.logical_date for r in runs(db, "minutely")]
    assert len(dates) == len(set(dates)) == due
    assert dates == sorted(dates)


def test_a_pass_reads_branch_decisions_and_map_lengths_once_for_many_runs(
    fast: Settings, db: Database, dags_dir: Path
) -> None:
    add_dag(
        db,
        dags_dir,
        "many",
        """
        from dagflow.operators import BashOperator, ShortCircuitOperator
        with DAG("many", schedule=None, max_active_runs=50):
            gate = ShortCircuitOperator(task_id="a", python_callable=lambda: True)
            gate >> BashOperator.partial(task_id="m").expand(bash_command=["true", "true"])
    """,
    )
    sched = Scheduler(fast, db, RecordingExecutor())
    for i in range(30):
        trigger(db, sched, "many", T0 + timedelta(seconds=i), f"r{i:02d}")
    sched.tick(T0)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = sched.tick(T0)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert report.runs_examined == 30
    assert sum("FROM xcom" in s for s in statements) == 1
    assert sum("FROM task_map" in s for s in statements) == 1


def test_a_pass_reads_no_branch_decisions_for_a_dag_whose_tasks_never_branch(
    fast: Settings, db: Database, dags_dir: Path
) -> None:
    add_dag(
        db,
        dags_dir,
        "plain",
        """
        from dagflow.operators import BashOperator
        with DAG("plain", schedule=None, max_active_runs=50):
            EmptyOperator(task_id="a") >> BashOperator.partial(task_id="m").expand(bash_command=["true", "true"])
    """,
    )
    sched = Scheduler(fast, db, RecordingExecutor())
    for i in range(5):
        trigger(db, sched, "plain", T0 + timedelta(seconds=i), f"r{i:02d}")
    sched.tick(T0)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        report = sched.tick(T0)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert report.runs_examined == 5
    assert sum("FROM xcom" in s for s in statements) == 0
    assert sum("FROM task_map" in s for s in statements) == 1
