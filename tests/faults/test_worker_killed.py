"""``kill -9`` of a worker mid-task: the try is reaped or recorded, retried, and the run succeeds.

LocalExecutor (SQLite, a real ``dagflow scheduler``), two victims in one run:

- ``lose_worker``: its *worker* process (the try's supervisor) is killed. Nothing is
  left to record the try: the task process notices its supervisor is gone and kills
  itself, the heartbeat goes stale, the reaper calls it a zombie after
  ``heartbeat_timeout`` ("worker lost ...") and retries it at once as an infra retry,
  although the task has ``retries=0``; a fresh local worker replaces the dead one.
- ``lose_task``: the *task process* is killed (as the kernel's OOM killer would). Its
  supervisor records the crash ("exited with signal 9") and the user's retry runs.

Celery (PostgreSQL + a throwaway Redis, two ``dagflow celery worker`` processes): the worker
running the victim is killed with its pool; the other worker runs the retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.cluster import WORKER_LOST_AFTER, Cluster, celery_settings, pid_alive, wait_for
from tests.servers import RedisServer

pytestmark = pytest.mark.slow

DAG = """
def victim(name, ti):
    record("start", ti)
    if ti.try_number == 1:
        write_pid(name + ".task", os.getpid())
        write_pid(name + ".worker", os.getppid())
        time.sleep(120)
    record("done", ti)


def work(n, ti=None):
    record("start", ti)
    time.sleep(0.3)
    record("done", ti)


with DAG("worker_killed", schedule=None, max_active_tasks=8):
    PythonOperator(task_id="lose_worker", python_callable=victim, op_args=["lose_worker"], retries=0)
    PythonOperator(task_id="lose_task", python_callable=victim, op_args=["lose_task"], retries=1,
                   retry_delay=timedelta(seconds=0))
    task(work).expand(n=list(range(6)))
"""


def test_local_worker_or_task_process_killed_mid_task_is_retried_and_the_run_succeeds(tmp_path: Path) -> None:
    # One try per worker process, so killing one worker loses one try (with several lanes per
    # worker a kill loses all of them: tests/integration/test_local_executor.py).
    env = {"DAGFLOW__CORE__PARALLELISM": "3", "DAGFLOW__CORE__TRIES_PER_WORKER": "1", **WORKER_LOST_AFTER}
    with Cluster(tmp_path, DAG, env=env) as cluster:
        cluster.start_scheduler()
        cluster.wait_parsed("worker_killed")
        cluster.trigger("worker_killed", "r1")
        task_pid, worker_pid = cluster.wait_pid("lose_task.task"), cluster.wait_pid("lose_worker.worker")
        orphan = cluster.wait_pid("lose_worker.task")

        cluster.kill9_pid(task_pid)
        cluster.kill9_pid(worker_pid)
        killed_at = time.monotonic()
        wait_for(lambda: not pid_alive(orphan), "the orphaned task process of the killed worker", 10)
        states = cluster.wait_runs_finished("worker_killed", ["r1"], seconds=90)
        print(f"run finished {time.monotonic() - killed_at:.1f}s after the kills")
        tis = {t.task_id: t for t in cluster.check_exactly_once("worker_killed", expected_tis=8)}
        history = {(h.task_id, h.try_number): h.reason or "" for h in cluster.history("worker_killed")}
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")

    assert states == {"r1": "success"}
    assert tis["lose_worker"].try_number == 2 and tis["lose_worker"].infra_tries == 1
    assert history[("lose_worker", 1)].startswith("worker lost"), history
    assert tis["lose_task"].try_number == 2 and tis["lose_task"].infra_tries == 0
    assert "signal 9" in history[("lose_task", 1)], history
    starts = [e.task_id for e in cluster.executions("start")]
    assert starts.count("lose_worker") == 2 and starts.count("lose_task") == 2


CELERY_DAG = """
def victim(ti):
    record("start", ti)
    if ti.try_number == 1:
        write_pid("victim.session", os.getsid(0))
        time.sleep(120)
    record("done", ti)


def work(n, ti=None):
    record("start", ti)
    time.sleep(0.3)
    record("done", ti)


with DAG("celery_worker_killed", schedule=None, max_active_tasks=8):
    PythonOperator(task_id="victim", python_callable=victim, retries=0)
    task(work).expand(n=list(range(6)))
"""


@pytest.mark.postgres
@pytest.mark.redis
def test_celery_worker_killed_mid_task_is_reaped_and_retried_on_the_other_worker(
    tmp_path: Path, make_pg_database: Callable[[], str], redis_server: RedisServer
) -> None:
    env = {**celery_settings(redis_server.url), **WORKER_LOST_AFTER}
    with Cluster(tmp_path, CELERY_DAG, db_url=make_pg_database(), env=env) as cluster:
        # concurrency 1: the killed worker runs nothing but the victim
        workers = {cluster.start_celery_worker(name, concurrency=1).pid: name for name in ("w1", "w2")}
        cluster.start_scheduler()
        cluster.wait_parsed("celery_worker_killed")
        cluster.trigger("celery_worker_killed", "r1")
        victim_worker = workers[cluster.wait_pid("victim.session")]
        survivor = next(pid for pid, name in workers.items() if name != victim_worker)

        killed = cluster.kill9_session(victim_worker)
        killed_at = time.monotonic()
        states = cluster.wait_runs_finished("celery_worker_killed", ["r1"], seconds=120)
        print(
            f"killed {len(killed)} processes of {victim_worker}; run finished {time.monotonic() - killed_at:.1f}s later"
        )
        tis = {t.task_id: t for t in cluster.check_exactly_once("celery_worker_killed", expected_tis=7)}
        history = {(h.task_id, h.try_number): h.reason or "" for h in cluster.history("celery_worker_killed")}
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")
        survivor_name = workers[survivor]
        assert cluster.stop(survivor_name) == 0, cluster.log_tail(survivor_name)

    assert states == {"r1": "success"}
    assert tis["victim"].try_number == 2 and tis["victim"].infra_tries == 1
    assert history[("victim", 1)].startswith("worker lost"), history
    (retry,) = [e for e in cluster.executions("done") if e.task_id == "victim"]
    assert retry.try_number == 2 and retry.sid == survivor
