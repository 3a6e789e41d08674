"""The LocalExecutor with the scheduler in this process: workers forked on demand and retired when
idle, wake-ups, timeouts, shutdown."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pendulum
import psutil
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.local import LocalExecutor
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DagRunState, DagRunType, TaskInstanceState
from tests.servers import SERVER_PROCESS_NAMES

MARKER = "311.75"
DAG_FILE = f"""
from datetime import timedelta
from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator

with DAG("tree", schedule=None):
    BashOperator(task_id="stuck", bash_command="sleep {MARKER} & sleep {MARKER}; wait",
                 execution_timeout=timedelta(seconds=1))

with DAG("fan", schedule=None):
    PythonOperator(task_id="start", python_callable=lambda: 1) >> [
        PythonOperator(task_id=f"t{{i}}", python_callable=lambda: 1) for i in range(12)]
"""


@pytest.fixture
def setup(settings: Settings, db: Database, tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    dags = settings.core.dags_folder  # the worker loads DAG files from the configured folders only
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "dags.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [dags], paused_at_creation=False)
    yield settings.replace(core={"parallelism": 3, "killed_task_cleanup_time": 1.0}), db


def trigger(scheduler: Scheduler, dag_id: str, run_id: str = "r1") -> None:
    now = pendulum.now("UTC")
    with scheduler.db.transaction() as session:
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


def run_until_finished(
    scheduler: Scheduler, seconds: float = 60, run_id: str = "r1", on_tick: Callable[[], None] = lambda: None
) -> DagRunState:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        scheduler.wakeup.clear()
        report = scheduler.tick()
        on_tick()
        if report.runs_finished:
            break
        scheduler.wakeup.wait(scheduler._wait_seconds(report))
    with scheduler.db.transaction() as session:
        return session.scalars(sa.select(DagRun.state).where(DagRun.run_id == run_id)).one()


def tries_of(db: Database, run_id: str) -> list[tuple[TaskInstanceState, int]]:
    """(state, try_number) of every task instance of the run."""
    with db.transaction() as session:
        rows = session.execute(
            sa.select(TaskInstance.state, TaskInstance.try_number).where(TaskInstance.run_id == run_id)
        )
        return [(state, number) for state, number in rows]


def markers() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if MARKER in " ".join(p.info["cmdline"] or [])]


def children_now() -> set[int]:
    """Pids of this process's direct children at this moment."""
    return {proc.pid for proc in psutil.Process().children()}


def workers(before: set[int]) -> list[psutil.Process]:
    """Live processes under the children this test process started since ``before`` (``children_now()``).

    Children from before are not ours to count: the session's throwaway PostgreSQL and Redis
    servers, multiprocessing's resource tracker that another test's spawn context started, or a
    browser test's live scheduler and Chromium in this same test worker.
    """
    found = []
    for child in psutil.Process().children():
        if child.pid in before:
            continue
        try:
            for proc in [child, *child.children(recursive=True)]:
                if proc.name() in SERVER_PROCESS_NAMES or proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if not any("resource_tracker" in part for part in proc.cmdline()):
                    found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def test_timeout_kills_the_whole_process_tree(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    executor.start()
    try:
        trigger(scheduler, "tree")
        began = time.monotonic()
        assert run_until_finished(scheduler) == DagRunState.FAILED
        assert time.monotonic() - began < 20
    finally:
        scheduler.shutdown()
    with db.transaction() as session:
        ti = session.scalars(sa.select(TaskInstance)).one()
        assert ti.state == TaskInstanceState.FAILED
        assert "time" in (ti.end_reason or "").lower()
    assert markers() == []


def test_fan_out_wakes_on_events_and_shutdown_leaves_no_worker(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings.replace(scheduler={"poll_interval": 30.0}), db, executor)
    before = children_now()
    executor.start()
    try:
        assert workers(before) == []  # forked on demand: none before the first workload
        trigger(scheduler, "fan")
        began = time.monotonic()
        assert run_until_finished(scheduler) == DagRunState.SUCCESS
        # 13 tries with a 30 s poll interval: only event wake-ups make this fast.
        assert time.monotonic() - began < 20
    finally:
        scheduler.shutdown()
    deadline = time.monotonic() + 5
    while workers(before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers(before) == []


@pytest.mark.parametrize(("per_worker", "processes"), [(1, 3), (2, 2), (8, 1)])
def test_workers_grow_with_the_backlog_up_to_parallelism_and_never_beyond(
    setup: tuple[Settings, Database], per_worker: int, processes: int
) -> None:
    settings, db = setup
    settings = settings.replace(core={"tries_per_worker": per_worker})
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    before = children_now()
    executor.start()
    seen: list[int] = []
    lanes: list[int] = []

    def count_workers() -> None:
        seen.append(len(children_now() - before))  # direct children: workers (tries are theirs)
        lanes.append(executor.workers)

    try:
        trigger(scheduler, "fan")
        assert run_until_finished(scheduler, on_tick=count_workers) == DagRunState.SUCCESS
    finally:
        scheduler.shutdown()
    # 12 tries at once: every slot of parallelism 3, not one more, in ceil(3 / per_worker) processes
    assert max(lanes) == 3
    assert max(seen) == processes
    assert executor.workers == 0
    assert tries_of(db, "r1") == [(TaskInstanceState.SUCCESS, 1)] * 13


def test_an_idle_worker_retires_and_a_later_run_forks_a_new_one(setup: tuple[Settings, Database]) -> None:
    settings, db = setup
    settings = settings.replace(core={"worker_idle_timeout": 0.3})
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    before = children_now()
    executor.start()
    try:
        trigger(scheduler, "fan")
        assert run_until_finished(scheduler) == DagRunState.SUCCESS
        deadline = time.monotonic() + 30
        while (executor.workers or workers(before)) and time.monotonic() < deadline:
            time.sleep(0.1)
            executor.heartbeat()  # reaps the workers that retired
        assert executor.workers == 0
        assert workers(before) == []  # their idle task processes went with them
        assert [event for event in executor.poll() if event.state is None] == []  # no lost try
        trigger(scheduler, "fan", run_id="r2")
        assert run_until_finished(scheduler, run_id="r2") == DagRunState.SUCCESS
    finally:
        scheduler.shutdown()
    assert tries_of(db, "r2") == [(TaskInstanceState.SUCCESS, 1)] * 13


def test_workers_that_keep_offering_to_retire_lose_no_try_and_run_none_twice(setup: tuple[Settings, Database]) -> None:
    """Workers idle for 20 ms offer to retire between tries, racing the workloads sent to them."""
    settings, db = setup
    settings = settings.replace(core={"worker_idle_timeout": 0.02})
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    executor.start()
    try:
        for run_id in ("r1", "r2", "r3"):
            trigger(scheduler, "fan", run_id=run_id)
            assert run_until_finished(scheduler, run_id=run_id) == DagRunState.SUCCESS
    finally:
        scheduler.shutdown()
    for run_id in ("r1", "r2", "r3"):
        assert tries_of(db, run_id) == [(TaskInstanceState.SUCCESS, 1)] * 13


# --- one worker supervising several tries at once (``core.tries_per_worker``) ------------

LANES_DAG = """
import os, signal, time
from datetime import timedelta
from pathlib import Path
from dagflow import DAG
from dagflow.operators import PythonOperator

SEEN = Path({seen!r})


def note(name, ti=None):
    (SEEN / f"{{name}}.{{ti.try_number}}").write_text(str(os.getppid()))  # the supervising worker


def meet(name, other, ti=None):
    note(name, ti)
    deadline = time.monotonic() + 30
    while not (SEEN / f"{{other}}.1").exists():  # both run at once, or this one fails
        if time.monotonic() > deadline:
            raise RuntimeError(f"{{other}} did not run beside {{name}}")
        time.sleep(0.05)
    time.sleep(0.5)


def crash(ti=None):
    note("crash", ti)
    while not (SEEN / "ok1.1").exists() or not (SEEN / "ok2.1").exists():
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGKILL)


def hang(ti=None):
    note("slow", ti)
    time.sleep(120)


def lost_on_first_try(name, ti=None):
    note(name, ti)
    if ti.try_number == 1:
        time.sleep(120)


with DAG("lanes", schedule=None, max_active_tasks=8):
    PythonOperator(task_id="crash", python_callable=crash)
    PythonOperator(task_id="slow", python_callable=hang, execution_timeout=timedelta(seconds=1))
    PythonOperator(task_id="ok1", python_callable=meet, op_args=["ok1", "ok2"])
    PythonOperator(task_id="ok2", python_callable=meet, op_args=["ok2", "ok1"])

def meet_noting_pid(name, other, ti=None):
    (SEEN / f"{{name}}.pid").write_text(str(os.getpid()))  # the task process
    meet(name, other, ti)


with DAG("lanes_idle", schedule=None, max_active_tasks=8):
    PythonOperator(task_id="p1", python_callable=meet_noting_pid, op_args=["p1", "p2"])
    PythonOperator(task_id="p2", python_callable=meet_noting_pid, op_args=["p2", "p1"])

with DAG("lanes_lost", schedule=None, max_active_tasks=8):
    PythonOperator(task_id="a", python_callable=lost_on_first_try, op_args=["a"])
    PythonOperator(task_id="b", python_callable=lost_on_first_try, op_args=["b"])
"""


@pytest.fixture
def lanes_setup(settings: Settings, db: Database, tmp_path: Path) -> Iterator[tuple[Settings, Database, Path]]:
    seen = tmp_path / "seen"
    seen.mkdir()
    dags = settings.core.dags_folder
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "lanes.py").write_text(textwrap.dedent(LANES_DAG.format(seen=str(seen))))
    sync_folders(db, [dags], paused_at_creation=False)
    core = {"parallelism": 4, "tries_per_worker": 4, "killed_task_cleanup_time": 1.0}
    yield settings.replace(core=core), db, seen


def ti_rows(db: Database, dag_id: str) -> dict[str, TaskInstance]:
    with db.transaction() as session:
        return {ti.task_id: ti for ti in session.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id))}


def test_one_worker_supervises_several_tries_a_crash_and_a_timeout_stay_their_own(
    lanes_setup: tuple[Settings, Database, Path],
) -> None:
    settings, db, seen = lanes_setup
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    before = children_now()
    executor.start()
    processes: list[int] = []
    try:
        trigger(scheduler, "lanes")
        state = run_until_finished(scheduler, on_tick=lambda: processes.append(len(children_now() - before)))
    finally:
        scheduler.shutdown()
    assert state == DagRunState.FAILED
    tis = ti_rows(db, "lanes")
    # ok1 and ok2 met each other (ran at once) beside the crash and the hang, all in one worker
    assert {name: tis[name].state for name in tis} == {
        "crash": TaskInstanceState.FAILED,
        "slow": TaskInstanceState.FAILED,
        "ok1": TaskInstanceState.SUCCESS,
        "ok2": TaskInstanceState.SUCCESS,
    }
    assert len({(seen / f"{name}.1").read_text() for name in ("crash", "slow", "ok1", "ok2")}) == 1
    assert max(processes) == 1
    assert "signal 9" in (tis["crash"].end_reason or ""), tis["crash"].end_reason
    assert "timed out" in (tis["slow"].end_reason or ""), tis["slow"].end_reason
    assert all(ti.try_number == 1 for ti in tis.values())


def test_a_killed_worker_loses_all_its_tries_and_the_reaper_retries_each(
    lanes_setup: tuple[Settings, Database, Path],
) -> None:
    settings, db, seen = lanes_setup
    settings = settings.replace(scheduler={"heartbeat_timeout": 3.0, "heartbeat_interval": 0.5})
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    executor.start()
    killed: list[int] = []

    def kill_the_worker_once_both_run() -> None:
        if killed or not ((seen / "a.1").exists() and (seen / "b.1").exists()):
            return
        worker = int((seen / "a.1").read_text())
        assert worker == int((seen / "b.1").read_text())  # one worker supervised both
        killed.append(worker)
        psutil.Process(worker).kill()

    try:
        trigger(scheduler, "lanes_lost")
        state = run_until_finished(scheduler, seconds=90, on_tick=kill_the_worker_once_both_run)
    finally:
        scheduler.shutdown()
    assert killed
    assert state == DagRunState.SUCCESS
    tis = ti_rows(db, "lanes_lost")
    for name in ("a", "b"):
        assert (tis[name].state, tis[name].try_number, tis[name].infra_tries) == (TaskInstanceState.SUCCESS, 2, 1)
        assert int((seen / f"{name}.2").read_text()) != killed[0]
    assert markers() == []


def test_a_lane_idle_for_a_while_retires_its_task_process_and_its_worker_stays(
    lanes_setup: tuple[Settings, Database, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lanes the load does not need drop their idle task process (memory), not only when they retire."""
    from dagflow.execution import local_worker

    monkeypatch.setattr(local_worker, "KEEP_IDLE_TASK_PROCESS_S", 0.5)  # before the worker is forked
    settings, db, seen = lanes_setup
    settings = settings.replace(core={"worker_idle_timeout": 0})  # lanes never retire
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    executor.start()
    try:
        trigger(scheduler, "lanes_idle")
        assert run_until_finished(scheduler) == DagRunState.SUCCESS
        tasks = [int((seen / f"{name}.pid").read_text()) for name in ("p1", "p2")]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_running(pid) for pid in tasks):
            time.sleep(0.1)
        assert not any(_running(pid) for pid in tasks)
        assert executor.worker_processes == 1
    finally:
        scheduler.shutdown()


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
