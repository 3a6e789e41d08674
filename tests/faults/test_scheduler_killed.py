"""``kill -9`` of the scheduler mid-run: a new scheduler finishes the run.

Real ``dagflow scheduler`` processes (LocalExecutor, SQLite). The first scheduler is
killed with SIGKILL while tasks run and others wait in its executor's queue. A second
scheduler must be allowed to start at once (the dead one's job row names a pid that is
gone on this host), and every task instance must end ``success`` with exactly one
completed execution: tries that were running finish or are reaped and retried, tries
that were queued in the dead executor are reset and queued again by the new scheduler
(orphan reset in the reaper).
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import DagflowError
from dagflow.models import Job
from dagflow.scheduler.job import SchedulerJob
from tests.faults.cluster import Cluster, pid_alive, wait_for

pytestmark = pytest.mark.slow

TASKS = 12
DAG = f"""
def work(n, ti=None):
    record("start", ti)
    time.sleep(1.5)
    record("done", ti)


with DAG("scheduler_killed", schedule=None, max_active_tasks=8, default_args={{"retries": 0}}):
    task(work).expand(n=list(range({TASKS})))
"""


def test_a_new_scheduler_finishes_the_run_of_a_killed_one(tmp_path: Path) -> None:
    with Cluster(tmp_path, DAG, env={"DAGFLOW__CORE__PARALLELISM": "2"}) as cluster:
        first = cluster.start_scheduler("scheduler")
        cluster.wait_parsed("scheduler_killed")
        cluster.trigger("scheduler_killed", "r1")
        cluster.wait_started("scheduler_killed", "work", count=2)
        cluster.kill9("scheduler")
        killed_at = time.monotonic()
        assert not pid_alive(first.pid)

        second = cluster.start_scheduler("scheduler2")
        wait_for(
            lambda: cluster.running_scheduler_pids() == [second.pid],
            "the second scheduler's job row",
            30,
            describe=lambda: cluster.log_tail("scheduler2"),
        )
        states = cluster.wait_runs_finished("scheduler_killed", ["r1"], seconds=120)
        print(f"run finished {time.monotonic() - killed_at:.1f}s after the kill")
        tis = cluster.check_exactly_once("scheduler_killed", expected_tis=TASKS)
        assert cluster.stop("scheduler2") == 0, cluster.log_tail("scheduler2")

    assert states == {"r1": "success"}
    assert {t.state.value for t in tis} == {"success"}


def _register_at(db: Database, now: datetime, *, pid: int) -> int:
    """Register a scheduler job, then rewrite its pid to ``pid``."""
    job = SchedulerJob(db, executor_class="LocalExecutor", heartbeat_interval=60)
    job_id = job.register(now)
    with db.transaction() as session:
        session.execute(sa.update(Job).where(Job.id == job_id).values(pid=pid))
    return job_id


def test_sqlite_guard_refuses_a_second_scheduler_only_while_the_first_one_lives(db: Database) -> None:
    now = datetime.now(UTC)
    dead = subprocess.Popen(["true"])
    dead.wait()
    _register_at(db, now, pid=dead.pid)  # fresh heartbeat, but its process is gone
    _register_at(db, now, pid=os.getpid())  # this process: alive
    with pytest.raises(DagflowError, match="another scheduler .* is running on this SQLite database"):
        SchedulerJob(db, executor_class="LocalExecutor", heartbeat_interval=60).register(now)
    with db.transaction() as session:
        session.execute(sa.update(Job).where(Job.pid == os.getpid()).values(pid=dead.pid))
    assert SchedulerJob(db, executor_class="LocalExecutor", heartbeat_interval=60).register(now) > 0
