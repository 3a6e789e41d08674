"""The metadata database or the broker restarts mid-run: the run still finishes, nothing doubled.

- PostgreSQL stopped and started again (several seconds away) while tasks run, under
  the LocalExecutor and under Celery: scheduler ticks, heartbeats and the event
  listener fail and are retried, outcomes recorded during the outage are retried until
  the database is back (shorter than ``heartbeat_timeout``: nothing is reaped).
- Redis (the Celery broker) shut down without saving and started again while two Celery
  workers run tasks on PostgreSQL: workers and the executor reconnect, messages lost
  with the broker's memory are re-sent by the stuck-queued check.

Each outage stops and starts a throwaway server of the test's own (``tests/servers.py``:
own port, own data dir), never the machine's shared PostgreSQL or Redis: the
PostgreSQL one is the session's ``postgres_server`` (fast shutdown, then started again
on the same port), the Redis one a server of the test's own (stopped: its memory is
lost, as with ``shutdown nosave``). Always started again (``finally``) and waited for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster, celery_settings, outage
from tests.integration.celery_helpers import redis_broker
from tests.servers import PostgresServer, RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TASKS = 16
DAG = f"""
def work(n, ti=None):
    record("start", ti)
    time.sleep(1.0)
    record("done", ti)


with DAG("service_restart", schedule=None, max_active_tasks=16):
    task(work).expand(n=list(range({TASKS})))
"""

#: While the database is away no heartbeat lands. An outage shorter than
#: ``heartbeat_timeout`` must reap and double nothing (a longer one makes zombies of live
#: tries: at-least-once, by design).
OUTAGE_SHORTER_THAN_HEARTBEAT_TIMEOUT = {"DAGFLOW__SCHEDULER__HEARTBEAT_TIMEOUT": "60"}
#: Seconds PostgreSQL stays down: longer than a task (1 s), so tries running when it stops
#: finish while it is away and must keep retrying their outcome until it is back.
PG_DOWN_S = 3.0
#: Seconds Redis stays down.
REDIS_DOWN_S = 1.0


@pytest.mark.parametrize("executor", ["local", pytest.param("celery", marks=pytest.mark.redis)])
def test_postgres_restarted_mid_run_the_run_finishes(
    executor: str, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    with ExitStack() as stack:
        env = {"DAGFLOW__CORE__PARALLELISM": "4", **OUTAGE_SHORTER_THAN_HEARTBEAT_TIMEOUT}
        if executor == "celery":
            env.update(celery_settings(stack.enter_context(redis_broker())))
        db_url = postgres_server.create_database()
        cluster = stack.enter_context(Cluster(tmp_path, DAG, db_url=db_url, env=env))
        workers = ("w1", "w2") if executor == "celery" else ()
        for name in workers:
            cluster.start_celery_worker(name, concurrency=2)
        cluster.start_scheduler()
        cluster.wait_parsed("service_restart")
        cluster.trigger("service_restart", "r1")
        cluster.wait_started("service_restart", "work", count=3)
        cluster.db.dispose()  # our own pooled connections die with the server
        done_before = len(cluster.executions("done"))
        away = outage(postgres_server, down_s=PG_DOWN_S)
        done_while_away = len(cluster.executions("done")) - done_before
        back_at = time.monotonic()
        states = cluster.wait_runs_finished("service_restart", ["r1"], seconds=120)
        print(
            f"{executor}: PostgreSQL away {away:.1f}s, {done_while_away} task(s) finished meanwhile; "
            f"run finished {time.monotonic() - back_at:.1f}s after it was back"
        )
        cluster.check_exactly_once("service_restart", expected_tis=TASKS)
        for name in ("scheduler", *workers):
            assert cluster.stop(name) == 0, cluster.log_tail(name)

    assert states == {"r1": "success"}
    assert done_while_away > 0, "no try finished while PostgreSQL was away: the outage tested nothing"


@pytest.mark.redis
def test_redis_restarted_mid_run_the_celery_run_finishes(
    tmp_path: Path, make_pg_database: Callable[[], str], redis_server: RedisServer
) -> None:
    with Cluster(tmp_path, DAG, db_url=make_pg_database(), env=celery_settings(redis_server.url)) as cluster:
        workers = ("w1", "w2")
        for name in workers:
            cluster.start_celery_worker(name, concurrency=2)
        cluster.start_scheduler()
        cluster.wait_parsed("service_restart")
        cluster.trigger("service_restart", "r1")
        cluster.wait_started("service_restart", "work", count=3)
        away = outage(redis_server, down_s=REDIS_DOWN_S)
        back_at = time.monotonic()
        states = cluster.wait_runs_finished("service_restart", ["r1"], seconds=120)
        print(f"Redis away {away:.1f}s; run finished {time.monotonic() - back_at:.1f}s after it was back")
        tis = cluster.check_exactly_once("service_restart", expected_tis=TASKS)
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")
        for name in workers:
            assert cluster.stop(name) == 0, cluster.log_tail(name)

    assert states == {"r1": "success"}
    print(f"re-sent after the outage: {sum(t.requeue_count for t in tis)} task instance(s)")
