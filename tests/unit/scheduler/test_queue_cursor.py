"""The queue cursor (``queue_cursor.QueueCursor``) picks exactly what the candidates query picks.

Random runs of three DAGs (plain and many-index tasks, three pools, per-DAG, per-task and
per-run limits, priority weights) on SQLite; at each step random task instances change
state (told to the cursor by id or by marking the run stale, as the scheduler tells it),
pools resize, a DAG is paused or a run leaves ``running``; then ``queueing.choose`` with
random slots, window bound and order is asked twice in one transaction, with and without
the cursor, and must return the same task instances in the same order; then the step
queues them through the cursor, as a tick does.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.models import DagModel, DagRun, Pool, TaskInstance
from dagflow.scheduler.dag_store import SerializedDagStore
from dagflow.scheduler.dagruns import create_dagrun, new_task_instance
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.queue_cursor import QueueCursor
from dagflow.scheduler.queueing import choose, queue_task_instances
from dagflow.state import DagRunState, DagRunType, TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag

TI = TaskInstanceState

DAGS = {
    "d0": """
        with DAG("d0", schedule=None, max_active_tasks=6):
            a = EmptyOperator(task_id="a", priority_weight=3, pool="p1")
            b = EmptyOperator(task_id="b", pool="p2", max_active_tis_per_dag=2)
            c = EmptyOperator(task_id="c", max_active_tis_per_dagrun=1)
            m = EmptyOperator(task_id="m", pool="p1")
            a >> b >> c
    """,
    "d1": """
        with DAG("d1", schedule=None, max_active_tasks=4):
            x = EmptyOperator(task_id="x")
            y = EmptyOperator(task_id="y", pool="p2", priority_weight=2)
            m = EmptyOperator(task_id="m", max_active_tis_per_dagrun=3)
            x >> m >> y
    """,
    "d2": """
        with DAG("d2", schedule=None):
            m = EmptyOperator(task_id="m", pool="p3", priority_weight=5)
            n = EmptyOperator(task_id="n")
    """,
}
#: Run dates per DAG (d0 and d1 share one, so the order's later keys decide between them).
DATES = {"d0": [0, 1, 3], "d1": [0, 2], "d2": [1, 4]}


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


STATES = [TI.SCHEDULED, TI.SCHEDULED, TI.SCHEDULED, TI.QUEUED, TI.RUNNING, TI.SUCCESS, TI.SUCCESS, TI.UP_FOR_RETRY]


def _setup(db: Database, dags_dir: Path, rng: random.Random) -> tuple[SerializedDagStore, QueueCursor]:
    """The DAGs, their runs with 12 extra map indexes of ``m``, random states; a cursor following every run."""
    for name, body in DAGS.items():
        add_dag(db, dags_dir, name, body)
    store, cursor = SerializedDagStore(), QueueCursor(min_kept_tis=0)  # small runs: the cursor on regardless
    with db.transaction() as session:
        session.add_all([Pool(name="p1", slots=3), Pool(name="p2", slots=2), Pool(name="p3", slots=-1)])
        for dag_id, days in DATES.items():
            entry = store.get(session, dag_id)
            assert entry is not None
            for day in days:
                when = T0 + timedelta(days=day)
                run = create_dagrun(
                    session,
                    dag=entry.dag,
                    run_id=f"r{day}",
                    run_type=DagRunType.MANUAL,
                    logical_date=when,
                    data_interval=(when, when),
                    now=when,
                )
                run.state = DagRunState.RUNNING
                task = entry.dag.tasks["m"]
                session.add_all(new_task_instance(entry.dag, task, run_id=run.run_id, map_index=i) for i in range(12))
                session.flush()
                cursor.track((dag_id, run.run_id), pk=run.id, logical_date=run.logical_date)
        for ti_id in session.scalars(sa.select(TaskInstance.id)):
            state = rng.choice([TI.SCHEDULED, TI.SCHEDULED, TI.SUCCESS, TI.UP_FOR_RETRY])
            session.execute(sa.update(TaskInstance).where(TaskInstance.id == ti_id).values(state=state))
    return store, cursor


def _change(db: Database, cursor: QueueCursor, rng: random.Random) -> None:
    """Random moves, each told to the cursor by id or as a stale run; pools, a pause, a run's state."""
    with db.transaction() as session:
        busy = sa.select(TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id)
        for ti_id, dag_id, run_id in session.execute(busy.where(TaskInstance.state.in_([TI.QUEUED, TI.RUNNING]))):
            if rng.random() < 0.5:  # a try ends, announced by the executor's event
                session.execute(sa.update(TaskInstance).where(TaskInstance.id == ti_id).values(state=TI.SUCCESS))
                cursor.changed((dag_id, run_id), [ti_id])
        rows = session.execute(sa.select(TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id)).all()
        for ti_id, dag_id, run_id in rng.sample(rows, rng.randint(1, 12)):
            values: dict[str, object] = {"state": rng.choice(STATES)}
            if rng.random() < 0.2:
                values["priority_weight"] = rng.randint(1, 6)
            session.execute(sa.update(TaskInstance).where(TaskInstance.id == ti_id).values(**values))
            if rng.random() < 0.75:
                cursor.changed((dag_id, run_id), [ti_id])
            else:
                cursor.stale((dag_id, run_id))
        for name in ("p1", "p2"):
            session.execute(sa.update(Pool).where(Pool.name == name).values(slots=rng.randint(1, 6)))
        if rng.random() < 0.2:
            session.execute(sa.update(DagModel).where(DagModel.dag_id == "d2").values(is_paused=rng.random() < 0.5))
        if rng.random() < 0.2:
            state = rng.choice([DagRunState.RUNNING, DagRunState.RUNNING, DagRunState.QUEUED])
            session.execute(sa.update(DagRun).where(DagRun.dag_id == "d0", DagRun.run_id == "r1").values(state=state))


@pytest.mark.parametrize("seed", range(6))
def test_the_cursor_picks_what_the_candidates_query_picks(
    settings: Settings, db: Database, dags_dir: Path, seed: int
) -> None:
    rng = random.Random(seed)
    store, cursor = _setup(db, dags_dir, rng)
    queued = 0
    for _ in range(30):
        _change(db, cursor, rng)
        slots, max_per_query = rng.randint(1, 12), rng.randint(1, 40)
        older = rng.random() < 0.7
        limits = {"slots": slots, "max_per_query": max_per_query, "default_max_active_tasks": rng.randint(2, 16)}
        with db.transaction() as session:
            expected = choose(session, store, older_runs_first=older, **limits)
            assert cursor.windows(session, older_runs_first=older) is not None  # it holds every scheduled row
            got = choose(session, store, older_runs_first=older, cursor=cursor, **limits)
            assert [c.ti_id for c in got] == [c.ti_id for c in expected]
            workloads = queue_task_instances(  # its EmptyOperators stand for work that takes a slot
                session, store, now=T0, older_runs_first=older, cursor=cursor, finish_empty=False, **limits
            )
            assert [w.ti_id for w in workloads] == [c.ti_id for c in expected]
            queued += len(workloads)
    assert queued > 60  # the steps did queue (the comparison was not of empty lists)


def test_an_untracked_run_with_scheduled_rows_falls_back_to_the_query(
    settings: Settings, db: Database, dags_dir: Path
) -> None:
    store, cursor = _setup(db, dags_dir, random.Random(1))
    cursor.drop(("d1", "r2"))
    with db.transaction() as session:
        session.execute(
            sa.update(TaskInstance)
            .where(TaskInstance.dag_id == "d1", TaskInstance.run_id == "r2")
            .values(state=TI.SCHEDULED)
        )
        assert cursor.windows(session, older_runs_first=True) is None
        expected = choose(session, store, slots=8, max_per_query=32, default_max_active_tasks=16)
        got = choose(session, store, slots=8, max_per_query=32, default_max_active_tasks=16, cursor=cursor)
        assert [c.ti_id for c in got] == [c.ti_id for c in expected]


def test_a_run_ended_elsewhere_is_no_longer_followed(settings: Settings, db: Database, dags_dir: Path) -> None:
    """A run failed by another process keeps no rows in the cursor; its skipped rows do not keep it from being used."""
    store, cursor = _setup(db, dags_dir, random.Random(2))
    with db.transaction() as session:
        assert cursor.windows(session, older_runs_first=True) is not None  # read while the run was running
        where = sa.and_(TaskInstance.dag_id == "d0", TaskInstance.run_id == "r3")
        moved = session.execute(
            sa.update(TaskInstance).where(where, TaskInstance.state == TI.SCHEDULED).values(state=TI.SKIPPED)
        )
        assert moved.rowcount > 0
        session.execute(sa.update(DagRun).where(DagRun.dag_id == "d0", DagRun.run_id == "r3").values(state="failed"))
    with db.transaction() as session:
        assert cursor.windows(session, older_runs_first=True) is not None
        expected = choose(session, store, slots=8, max_per_query=32, default_max_active_tasks=16)
        got = choose(session, store, slots=8, max_per_query=32, default_max_active_tasks=16, cursor=cursor)
        assert [c.ti_id for c in got] == [c.ti_id for c in expected]


MAPPED = """
    from dagflow.operators import BashOperator
    with DAG("wide", schedule=None, max_active_tasks=4):
        BashOperator.partial(task_id="each").expand(bash_command=[f"echo {i}" for i in range(200)])
"""


@pytest.mark.parametrize("min_kept_tis", [0, 10_000], ids=["cursor", "below-the-size"])
def test_a_tick_of_a_wide_run_queues_from_the_cursor_not_the_sorting_query(
    settings: Settings, db: Database, dags_dir: Path, min_kept_tis: int
) -> None:
    """Once the run is kept, no tick runs the candidates query (it sorted every scheduled row);
    a run smaller than ``min_kept_tis`` is queued by that query on every tick, with the same result."""
    add_dag(db, dags_dir, "wide", MAPPED)
    executor = RecordingExecutor()
    sched = Scheduler(settings.replace(scheduler={"poll_interval": 0.0}), db, executor)
    sched.known_tis.queue.min_kept_tis = min_kept_tis
    with db.transaction() as session:
        entry = sched.store.get(session, "wide")
        assert entry is not None
        create_dagrun(
            session,
            dag=entry.dag,
            run_id="w",
            run_type=DagRunType.MANUAL,
            logical_date=T0,
            data_interval=(T0, T0),
            now=T0,
        )
    statements: list[str] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    done, sorted_in = 0, []
    for tick in range(80):
        statements.clear()
        sched.tick(T0 + timedelta(seconds=tick))
        if any("ORDER BY task_instance.priority_tier DESC" in s for s in statements):
            sorted_in.append(tick)
        executor.finish(db, executor.submitted[done:])
        done = len(executor.submitted)
        with db.transaction() as session:
            if session.scalar(sa.select(DagRun.state).where(DagRun.run_id == "w")) is not DagRunState.RUNNING:
                break
    assert sorted(w.map_index for w in executor.submitted) == list(range(200))
    assert tick > 45  # 4 at a time
    if min_kept_tis:
        assert len(sorted_in) > 45  # every tick that queued
    else:
        # the run is kept from its first pass; the last tick (the run ended, nothing kept) asks SQL, finding nothing
        assert set(sorted_in) <= {0, tick}
