"""The metadata database or the broker restarts mid-run: the run still finishes, nothing doubled.

- PostgreSQL stopped and started again (several seconds away) while tasks run, under
  the LocalExecutor and under Celery: scheduler ticks, heartbeats and the event
  listener fail and are retried, outcomes recorded during the outage are retried until
  the database is back (shorter than ``heartbeat_timeout``: nothing is reaped).
- Redis (the Celery broker) shut down without saving and started again while two Celery
  workers run tasks on PostgreSQL: workers and the executor reconnect, and the messages
  lost with the broker's memory are re-sent by the executor within seconds of the
  broker's return (not after ``task_queued_timeout``, set far out of reach here).
- Redis restarted many times under two busy workers: both survive every restart (they
  used to exit with an "unrecoverable" ``AttributeError`` when the loss was first seen
  on the remote-control pubsub connection).

Each outage stops and starts a throwaway server of the test's own (``tests/servers.py``:
own port, own data dir), never the machine's shared PostgreSQL or Redis: the
PostgreSQL one is the session's ``postgres_server`` (fast shutdown, then started again
on the same port), the Redis one a server of the test's own (stopped: its memory is
lost, as with ``shutdown nosave``). Always started again (``finally``) and waited for.
"""

from __future__ import annotations

import random
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
#: Out of reach of the Redis tests: a lost message must come back by the executor's re-send.
QUEUED_TIMEOUT_OUT_OF_REACH = {"DAGFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "600"}
#: Redis restarts under busy workers (6 of 24 worker-restarts ended a worker before the fix).
REDIS_RESTARTS = 8


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
def test_redis_restarted_mid_run_lost_messages_are_resent_within_seconds(
    tmp_path: Path, make_pg_database: Callable[[], str], redis_server: RedisServer
) -> None:
    env = {**celery_settings(redis_server.url), **QUEUED_TIMEOUT_OUT_OF_REACH}
    with Cluster(tmp_path, DAG, db_url=make_pg_database(), env=env) as cluster:
        workers = ("w1", "w2")
        for name in workers:
            cluster.start_celery_worker(name, concurrency=2)
        cluster.start_scheduler()
        cluster.wait_parsed("service_restart")
        cluster.trigger("service_restart", "r1")
        cluster.wait_started("service_restart", "work", count=3)
        started_before = len(cluster.executions("start"))
        away = outage(redis_server, down_s=REDIS_DOWN_S)
        back_at = time.monotonic()
        cluster.wait_started("service_restart", "work", count=started_before + 1, seconds=30)
        first_start_after = time.monotonic() - back_at
        states = cluster.wait_runs_finished("service_restart", ["r1"], seconds=60)
        finished_after = time.monotonic() - back_at
        print(
            f"Redis away {away:.1f}s; next task start {first_start_after:.1f}s and run finished "
            f"{finished_after:.1f}s after it was back"
        )
        tis = cluster.check_exactly_once("service_restart", expected_tis=TASKS)
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")
        for name in workers:
            assert cluster.stop(name) == 0, cluster.log_tail(name)
        resent = "re-sent" in cluster.log_tail("scheduler", 1 << 20)

    assert states == {"r1": "success"}
    assert first_start_after < 15, f"no task started for {first_start_after:.1f}s after Redis was back"
    assert sum(t.requeue_count for t in tis) == 0  # not the stuck-queued check (out of reach): the executor
    assert resent, "the executor never re-sent a lost message (did Redis hold none when it stopped?)"


@pytest.mark.redis
def test_celery_workers_survive_repeated_redis_restarts(
    tmp_path: Path, make_pg_database: Callable[[], str], redis_server: RedisServer
) -> None:
    rng = random.Random(21)
    dag = DAG.replace("time.sleep(1.0)", "time.sleep(0.3)").replace(f"range({TASKS})", "range(120)")
    env = {**celery_settings(redis_server.url), **QUEUED_TIMEOUT_OUT_OF_REACH}
    with Cluster(tmp_path, dag, db_url=make_pg_database(), env=env) as cluster:
        workers = ("w1", "w2")
        for name in workers:
            cluster.start_celery_worker(name, concurrency=2)
        cluster.start_scheduler()
        cluster.wait_parsed("service_restart")
        cluster.trigger("service_restart", "r1")
        cluster.wait_started("service_restart", "work", count=2)
        exited = {}
        for restart in range(REDIS_RESTARTS):
            time.sleep(rng.uniform(0.3, 1.5))
            outage(redis_server, down_s=rng.uniform(0.1, 1.0))
            exited.update({(restart, n): cluster.procs[n].returncode for n in workers if cluster.procs[n].poll()})
            if exited:
                break
        assert not exited, f"workers exited after Redis restarts (restart, worker): {exited}: " + "".join(
            cluster.log_tail(n) for n in workers
        )
        states = cluster.wait_runs_finished("service_restart", ["r1"], seconds=90)
        cluster.check_exactly_once("service_restart", expected_tis=120)
        for name in ("scheduler", *workers):
            assert cluster.stop(name) == 0, cluster.log_tail(name)
    assert states == {"r1": "success"}
