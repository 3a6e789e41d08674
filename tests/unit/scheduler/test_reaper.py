"""The reaper through ``Scheduler.tick(now)`` with a fake clock: zombies, cleared tries, stuck queued.

Workers are played by the test: a "claim" sets the row ``running`` with a token, host,
pid and heartbeat as ``claim_try`` would; a worker that vanishes simply stops
heartbeating while the fake clock moves on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.execution.claim import this_host
from dagflow.models import TaskInstance, TaskInstanceHistory
from dagflow.models.transitions import set_ti_state
from dagflow.scheduler import reaper
from dagflow.scheduler.clearing import clear_task_instance
from dagflow.scheduler.loop import Scheduler
from dagflow.scheduler.reaper import TaskCallbackRequest, sweep
from dagflow.state import DagRunState, TaskInstanceState
from tests.unit.scheduler.test_tick import T0, RecordingExecutor, add_dag, runs, trigger

TI = TaskInstanceState

ZOMBIE_DAG = """
    def noop(context):
        pass

    with DAG("{dag_id}", schedule=None):
        EmptyOperator(task_id="work", retries=1, retry_delay=timedelta(minutes=5), queue="{queue}",
                      on_retry_callback=noop, on_failure_callback=noop)
"""


class FakeCallbacks:
    """Stands in for ``CallbackRunner``: keeps the requests instead of starting processes."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def submit(self, request: Any) -> None:
        self.requests.append(request)

    def reap(self) -> int:
        return 0

    def shutdown(self) -> None:
        pass


@pytest.fixture
def dags_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


def reaper_settings(db: Database, **scheduler: Any) -> Settings:
    values = {
        "poll_interval": 0.0,
        "heartbeat_interval": 5.0,
        "heartbeat_timeout": 60.0,
        "task_queued_timeout": 60.0,
        "max_queued_resends": 2,
        "max_infra_retries": 2,
        **scheduler,
    }
    return db.settings.replace(scheduler=values, core={"killed_task_cleanup_time": 10.0})


def start(
    db: Database, dags_dir: Path, dag_id: str = "z", queue: str = "default", **scheduler: Any
) -> tuple[Scheduler, RecordingExecutor, FakeCallbacks]:
    """The DAG synced, a scheduler on it, one manual run triggered and queued at T0."""
    add_dag(db, dags_dir, dag_id, ZOMBIE_DAG.format(dag_id=dag_id, queue=queue))
    executor, callbacks = RecordingExecutor(), FakeCallbacks()
    sched = Scheduler(reaper_settings(db, **scheduler), db, executor, callbacks=callbacks)  # type: ignore[arg-type]
    trigger(db, sched, dag_id, T0)
    sched.tick(T0)
    return sched, executor, callbacks


def claim(db: Database, dag_id: str, at: datetime, *, token: str, host: str = "w1", pid: int = 4242) -> None:
    """Play a worker claiming the queued try at ``at`` (as ``claim_try`` does)."""
    with db.transaction() as session:
        (ti_id,) = session.execute(sa.select(TaskInstance.id).where(TaskInstance.dag_id == dag_id)).one()
        moved = set_ti_state(
            session,
            [ti_id],
            to=TI.RUNNING,
            expected=[TI.QUEUED],
            values={
                "try_number": TaskInstance.try_number + 1,
                "start_date": at,
                "last_heartbeat": at,
                "hostname": host,
                "pid": pid,
                "try_token": token,
                "end_date": None,
                "end_reason": None,
            },
        )
        assert moved == 1


def beat(db: Database, at: datetime) -> None:
    with db.transaction() as session:
        session.execute(sa.update(TaskInstance).values(last_heartbeat=at))


def the_ti(db: Database, dag_id: str = "z") -> TaskInstance:
    with db.transaction() as session:
        ti = session.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id)).one()
        session.expunge(ti)
        return ti


def history(db: Database) -> list[tuple[int, str | None, str | None]]:
    with db.transaction() as session:
        rows = session.execute(
            sa.select(TaskInstanceHistory.try_number, TaskInstanceHistory.state, TaskInstanceHistory.reason).order_by(
                TaskInstanceHistory.id
            )
        )
        return [(n, state.value if state is not None else None, reason) for n, state, reason in rows]


# --- zombies ---------------------------------------------------------------------------
def test_zombie_gets_infra_retries_then_the_users_retry_then_fails(db_any: Database, dags_dir: Path) -> None:
    sched, executor, callbacks = start(db_any, dags_dir)
    now = T0
    for n in (1, 2):  # two lost workers: infra retries, retried at once, no user retry spent
        claim(db_any, "z", now, token=f"t{n}", host=f"w{n}")
        now += timedelta(seconds=61)
        sched.tick(now)
        ti = the_ti(db_any)
        assert (ti.state, ti.try_number, ti.max_tries, ti.infra_tries) == (TI.QUEUED, n, 1 + n, n)
        assert ti.end_reason == (
            f"worker lost: no heartbeat for 61s (host w{n}, pid 4242); infra retry {n} of 2 (does not use a retry)"
        )
        assert executor.submitted[-1].try_number == n + 1
    claim(db_any, "z", now, token="t3")  # third loss: the normal rule spends the user's one retry
    now += timedelta(seconds=61)
    sched.tick(now)
    ti = the_ti(db_any)
    assert (ti.state, ti.try_number, ti.max_tries, ti.infra_tries) == (TI.UP_FOR_RETRY, 3, 3, 2)
    assert ti.end_reason == "worker lost: no heartbeat for 61s (host w1, pid 4242)"
    assert ti.next_try_at == now + timedelta(minutes=5)
    now += timedelta(minutes=5)
    sched.tick(now)
    claim(db_any, "z", now, token="t4")  # fourth loss: no tries left
    now += timedelta(seconds=90)
    sched.tick(now)
    ti = the_ti(db_any)
    assert (ti.state, ti.try_number) == (TI.FAILED, 4)
    assert ti.end_reason == "worker lost: no heartbeat for 90s (host w1, pid 4242)"
    assert runs(db_any, "z")[0].state is DagRunState.FAILED
    assert [(n, state) for n, state, _ in history(db_any)] == [
        (1, "up_for_retry"),
        (2, "up_for_retry"),
        (3, "up_for_retry"),
        (4, "failed"),
    ]
    assert all(reason and reason.startswith("worker lost") for _, _, reason in history(db_any))
    assert [(r.callback, r.try_number) for r in callbacks.requests] == [
        ("on_retry_callback", 1),
        ("on_retry_callback", 2),
        ("on_retry_callback", 3),
        ("on_failure_callback", 4),
    ]


def test_live_heartbeat_is_never_reaped(db: Database, dags_dir: Path) -> None:
    sched, _, callbacks = start(db, dags_dir)
    claim(db, "z", T0, token="live")
    for minute in range(1, 11):  # ten minutes of ticks, a heartbeat every 30 s
        now = T0 + timedelta(minutes=minute)
        beat(db, now - timedelta(seconds=30))
        sched.tick(now)
    ti = the_ti(db)
    assert (ti.state, ti.try_number, ti.infra_tries, ti.end_reason) == (TI.RUNNING, 1, 0, None)
    assert history(db) == [] and callbacks.requests == []


def test_heartbeat_or_new_try_racing_the_reaper_wins(
    db: Database, dags_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sched, _, _ = start(db, dags_dir)
    claim(db, "z", T0, token="old")
    now = T0 + timedelta(minutes=5)
    with db.transaction() as session:
        rows = reaper._overdue(session, sched.settings, now)  # what the reaper's query saw
        assert [ti.try_token for ti in rows] == ["old"]
        monkeypatch.setattr(reaper, "_overdue", lambda *args: rows)
        quiet = {"synchronize_session": False}  # the rows read above stay as they were read
        session.execute(sa.update(TaskInstance).values(last_heartbeat=now).execution_options(**quiet))
        assert sweep(session, sched.store, sched.settings, now=now).zombies == 0  # a late heartbeat won
        session.execute(sa.update(TaskInstance).values(last_heartbeat=T0, try_token="newer").execution_options(**quiet))
        assert sweep(session, sched.store, sched.settings, now=now).zombies == 0  # a newer try is not reaped
    assert the_ti(db).state is TI.RUNNING and history(db) == []


# --- cleared while running ---------------------------------------------------------------
def test_try_cleared_while_running_is_restarted_once_its_worker_stopped(db: Database, dags_dir: Path) -> None:
    sched, executor, _ = start(db, dags_dir)
    claim(db, "z", T0, token="t1")
    with db.transaction() as session:
        entry = sched.store.get(session, "z")
        ti = session.scalars(sa.select(TaskInstance)).one()
        assert entry is not None and clear_task_instance(session, entry.dag, ti)
    sched.tick(T0 + timedelta(seconds=10))  # the worker may still be stopping it
    assert the_ti(db).state is TI.RESTARTING
    sched.tick(T0 + timedelta(seconds=26))  # 3 heartbeats + the cleanup time: surely stopped
    ti = the_ti(db)
    assert (ti.state, ti.try_number) == (TI.QUEUED, 1)
    assert executor.submitted[-1].try_number == 2
    assert history(db) == [(1, "restarting", "cleared while running: try 1 was stopped")]


# --- stuck in queued ---------------------------------------------------------------------
def test_stuck_in_queued_is_resent_then_failed(db_any: Database, dags_dir: Path) -> None:
    sched, executor, callbacks = start(db_any, dags_dir, queue="nobody")
    assert len(executor.submitted) == 1
    sched.tick(T0 + timedelta(seconds=30))
    assert len(executor.submitted) == 1
    sched.tick(T0 + timedelta(seconds=61))  # first re-send: same try, queued_at reset
    assert [w.try_number for w in executor.submitted] == [1, 1]
    ti = the_ti(db_any)
    assert (ti.state, ti.requeue_count, ti.queued_at) == (TI.QUEUED, 1, T0 + timedelta(seconds=61))
    sched.tick(T0 + timedelta(seconds=100))
    assert len(executor.submitted) == 2
    sched.tick(T0 + timedelta(seconds=122))
    assert len(executor.submitted) == 3 and the_ti(db_any).requeue_count == 2
    sched.tick(T0 + timedelta(seconds=190))  # no more re-sends: failed, no retry (it never started)
    ti = the_ti(db_any)
    reason = "stuck in queued for 68s after 2 re-sends (queue nobody: is a worker listening?)"
    assert (ti.state, ti.try_number, ti.end_reason) == (TI.FAILED, 0, reason)
    assert len(executor.submitted) == 3
    assert history(db_any) == [(1, "failed", reason)]
    assert runs(db_any, "z")[0].state is DagRunState.FAILED
    assert [r.callback for r in callbacks.requests] == ["on_failure_callback"]


def test_resends_are_counted_per_try(db_any: Database, dags_dir: Path) -> None:
    """Try 1 used both re-sends; its worker was lost; try 2's lost message is re-sent, not failed."""
    sched, executor, _ = start(db_any, dags_dir)
    now = T0
    for _ in range(2):  # try 1's message lost twice: both re-sends spent
        now += timedelta(seconds=61)
        sched.tick(now)
    assert the_ti(db_any).requeue_count == 2
    claim(db_any, "z", now, token="t1")
    now += timedelta(seconds=61)
    sched.tick(now)  # try 1's worker lost: infra retry, try 2 queued afresh
    ti = the_ti(db_any)
    assert (ti.state, ti.try_number, ti.requeue_count) == (TI.QUEUED, 1, 0)
    now += timedelta(seconds=61)
    sched.tick(now)  # try 2's message lost: re-sent (1 of 2), not "stuck in queued after 2 re-sends"
    ti = the_ti(db_any)
    assert (ti.state, ti.requeue_count) == (TI.QUEUED, 1)
    assert [w.try_number for w in executor.submitted] == [1, 1, 1, 2, 2]


def test_claimed_after_a_resend_is_not_touched(db: Database, dags_dir: Path) -> None:
    sched, executor, _ = start(db, dags_dir, max_queued_resends=1)
    sched.tick(T0 + timedelta(seconds=61))
    claim(db, "z", T0 + timedelta(seconds=70), token="t1")  # the re-sent message found a worker
    beat(db, T0 + timedelta(seconds=200))
    sched.tick(T0 + timedelta(seconds=200))
    ti = the_ti(db)
    assert (ti.state, ti.try_number, ti.requeue_count) == (TI.RUNNING, 1, 1)
    assert len(executor.submitted) == 2


def test_tries_held_by_a_local_executor_are_not_stuck(db: Database, dags_dir: Path) -> None:
    sched, _, _ = start(db, dags_dir)
    ti = the_ti(db)
    with db.transaction() as session:
        result = sweep(
            session, sched.store, sched.settings, now=T0 + timedelta(hours=1), held={(ti.id, ti.try_number + 1)}
        )
    assert (result.changed, the_ti(db).state, the_ti(db).requeue_count) == (0, TI.QUEUED, 0)


def test_zombie_callback_runs_in_a_process_with_the_try_context(db: Database, dags_dir: Path, tmp_path: Path) -> None:
    from dagflow.scheduler.dag_callbacks import CallbackRunner

    marker = tmp_path / "retry.txt"
    add_dag(
        db,
        dags_dir,
        "zcb",
        f"""
        def on_retry(context):
            with open({str(marker)!r}, "a") as fh:
                fh.write(f"{{context['ti'].try_number}} {{context['run_id']}} {{context['exception']}}\\n")

        with DAG("zcb", schedule=None):
            EmptyOperator(task_id="work", on_retry_callback=on_retry)
    """,
    )
    runner = CallbackRunner(db.settings)
    sched = Scheduler(reaper_settings(db), db, RecordingExecutor(), callbacks=runner)
    trigger(db, sched, "zcb", T0)
    sched.tick(T0)
    claim(db, "zcb", T0, token="t1", host="w9", pid=99)
    sched.tick(T0 + timedelta(seconds=61))
    runner.wait(120)
    assert marker.read_text() == (
        "1 manual_1 worker lost: no heartbeat for 61s (host w9, pid 99); infra retry 1 of 2 (does not use a retry)\n"
    )


def test_callback_requests_are_picklable() -> None:
    import pickle

    request = TaskCallbackRequest("d", "r", "t", -1, 1, "/f.py", "on_failure_callback", TI.FAILED, "why")
    assert pickle.loads(pickle.dumps(request)) == request


def test_tries_queued_by_a_dead_scheduler_are_reset_and_queued_again(db_any: Database, dags_dir: Path) -> None:
    """A scheduler that died with tries in its queue: the next sweep of a live one resets them."""

    from dagflow.models import Job

    sched, executor, _ = start(db_any, dags_dir)
    assert len(executor.submitted) == 1  # queued by this (job-less) scheduler at T0
    with db_any.transaction() as session:

        def job(host: str, pid: int, beat: datetime, state: str = "running") -> int:
            row = Job(
                job_type="scheduler",
                state=state,
                hostname=host,
                pid=pid,
                start_date=T0,
                latest_heartbeat=beat,
                executor_class="LocalExecutor",
            )
            session.add(row)
            session.flush()
            return row.id

        stale = job("elsewhere", 1, T0 - timedelta(minutes=5))
        ended = job("elsewhere", 2, T0, state="success")
        killed_here = job(this_host(), 2**22 + 12345, T0)  # fresh heartbeat, no such process
        alive = job("elsewhere", 3, T0)
        ids = session.scalars(sa.select(TaskInstance.id).order_by(TaskInstance.id)).all()
        session.execute(sa.update(TaskInstance).values(queued_by_job_id=stale))
    with db_any.transaction() as session:
        assert reaper.reset_orphaned(session, sched.settings, now=T0, job_id=None) == 1
        state = session.scalars(sa.select(TaskInstance.state).where(TaskInstance.id == ids[0])).one()
        assert state is TI.SCHEDULED
    for owner, expect_reset in ((ended, 1), (killed_here, 1), (alive, 0)):
        with db_any.transaction() as session:
            session.execute(sa.update(TaskInstance).values(state=TI.QUEUED, queued_by_job_id=owner))
        with db_any.transaction() as session:
            assert reaper.reset_orphaned(session, sched.settings, now=T0, job_id=None) == expect_reset, owner
    with db_any.transaction() as session:  # a scheduler never resets its own queue
        session.execute(sa.update(TaskInstance).values(state=TI.QUEUED, queued_by_job_id=stale))
    with db_any.transaction() as session:
        assert reaper.reset_orphaned(session, sched.settings, now=T0, job_id=stale) == 0
    sched.tick(T0 + timedelta(seconds=10))  # through the scheduler: reset, then queued again at once
    with db_any.transaction() as session:
        row = session.execute(sa.select(TaskInstance.state, TaskInstance.queued_by_job_id)).one()
    assert row.state is TI.QUEUED and row.queued_by_job_id is None
    assert len(executor.submitted) == 2
