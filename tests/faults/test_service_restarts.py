"""The metadata database or the broker restarts mid-run: the run still finishes, nothing doubled.

- PostgreSQL stopped for ~2 s and started again while a LocalExecutor scheduler runs
  tasks: scheduler ticks and heartbeats fail and are retried, outcomes recorded during
  the outage are retried until the database is back.
- Redis (the Celery broker) shut down without saving and started again while two Celery
  workers run tasks on PostgreSQL: workers and the executor reconnect, messages lost
  with the broker's memory are re-sent by the stuck-queued check.

The servers are shared with other tests on the machine: each outage is short, and the
service is always started again (``finally``) and waited for.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.cluster import REDIS_DB, Cluster, celery_settings, postgres_outage, redis_outage
from tests.integration.celery_helpers import redis_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TASKS = 16
DAG = f'''
def work(n, ti=None):
    record("start", ti)
    time.sleep(1.0)
    record("done", ti)


with DAG("service_restart", schedule=None, max_active_tasks=16):
    task(work).expand(n=list(range({TASKS})))
'''

#: Stopping and starting the server takes several seconds on a busy machine; while it is
#: away no heartbeat lands. An outage shorter than ``heartbeat_timeout`` must reap and
#: double nothing (a longer one makes zombies of live tries: at-least-once, by design).
OUTAGE_SHORTER_THAN_HEARTBEAT_TIMEOUT = {"DAGFLOW__SCHEDULER__HEARTBEAT_TIMEOUT": "60"}


def test_postgres_restarted_mid_run_the_local_executor_run_finishes(
        tmp_path: Path, make_pg_database: Callable[[], str]) -> None:
    if shutil.which("pg_ctlcluster") is None:
        pytest.skip("pg_ctlcluster not found: cannot restart PostgreSQL")
    url = make_pg_database()
    env = {"DAGFLOW__CORE__PARALLELISM": "4", **OUTAGE_SHORTER_THAN_HEARTBEAT_TIMEOUT}
    with Cluster(tmp_path, DAG, db_url=url, env=env) as cluster:
        cluster.start_scheduler()
        cluster.wait_parsed("service_restart")
        cluster.trigger("service_restart", "r1")
        cluster.wait_started("service_restart", "work", count=3)
        cluster.db.dispose()  # our own pooled connections die with the server
        away = postgres_outage(down_s=0.5)
        back_at = time.monotonic()
        states = cluster.wait_runs_finished("service_restart", ["r1"], seconds=120)
        print(f"PostgreSQL away {away:.1f}s; run finished {time.monotonic() - back_at:.1f}s after it was back")
        cluster.check_exactly_once("service_restart", expected_tis=TASKS)
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")

    assert states == {"r1": "success"}


@pytest.mark.redis
def test_redis_restarted_mid_run_the_celery_run_finishes(
        tmp_path: Path, make_pg_database: Callable[[], str]) -> None:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server / redis-cli not found: cannot restart Redis")
    with redis_database(REDIS_DB) as broker, \
            Cluster(tmp_path, DAG, db_url=make_pg_database(), env=celery_settings(broker)) as cluster:
        workers = ("w1", "w2")
        for name in workers:
            cluster.start_celery_worker(name, concurrency=2)
        cluster.start_scheduler()
        cluster.wait_parsed("service_restart")
        cluster.trigger("service_restart", "r1")
        cluster.wait_started("service_restart", "work", count=3)
        away = redis_outage(down_s=1.0)
        back_at = time.monotonic()
        states = cluster.wait_runs_finished("service_restart", ["r1"], seconds=120)
        print(f"Redis away {away:.1f}s; run finished {time.monotonic() - back_at:.1f}s after it was back")
        tis = cluster.check_exactly_once("service_restart", expected_tis=TASKS)
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")
        for name in workers:
            assert cluster.stop(name) == 0, cluster.log_tail(name)

    assert states == {"r1": "success"}
    print(f"re-sent after the outage: {sum(t.requeue_count for t in tis)} task instance(s)")
