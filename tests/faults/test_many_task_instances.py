"""Many task instances through the LocalExecutor and Celery: all finish, none twice.

Mapped tasks (``.expand``) over four concurrent runs, so the DAG file is parsed once
and the scheduler, the executor and the database carry the load. Each task records its
own execution; every task instance must end ``success`` with exactly one completed
execution. The throughput is printed (``-s``).

The issue asks for 10 000 task instances. At today's throughput that is several
minutes per executor on the 2-core CI machine, past the CI budget of the fault tests,
so CI runs ``DAGFLOW_FAULTS_SCALE_TIS`` (default 1 000) per executor; run the full size
with ``DAGFLOW_FAULTS_SCALE_TIS=10000`` (docs/reliability.md has the measured figures).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster, celery_settings
from tests.servers import RedisServer

pytestmark = pytest.mark.slow

TOTAL = int(os.environ.get("DAGFLOW_FAULTS_SCALE_TIS", "1000"))
RUNS = 4
PER_RUN = TOTAL // RUNS
DAG = f"""
def work(n, ti=None):
    record("start", ti)
    record("done", ti)


with DAG("many", schedule=None, max_active_runs={RUNS}, max_active_tasks=64):
    task(work).expand(n=list(range({PER_RUN})))
"""
RUN_IDS = [f"r{i}" for i in range(RUNS)]
#: Generous: a few task instances per second on a loaded 2-core machine.
DEADLINE_S = max(300.0, PER_RUN * RUNS / 3)
#: pytest-timeout's limit for each test: the deadline plus start-up and the final checks.
TEST_TIMEOUT_S = DEADLINE_S + 180


def _run_all(cluster: Cluster, label: str) -> None:
    cluster.start_scheduler()
    cluster.wait_parsed("many")
    started = time.monotonic()
    cluster.trigger("many", *RUN_IDS)
    states = cluster.wait_runs_finished("many", RUN_IDS, seconds=DEADLINE_S)
    elapsed = time.monotonic() - started
    print(f"{label}: {PER_RUN * RUNS} task instances in {elapsed:.1f}s ({PER_RUN * RUNS / elapsed:.1f}/s)")
    cluster.check_exactly_once("many", expected_tis=PER_RUN * RUNS)
    assert states == dict.fromkeys(RUN_IDS, "success")


@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_many_task_instances_through_the_local_executor(tmp_path: Path) -> None:
    env = {"DAGFLOW__CORE__PARALLELISM": "4", "DAGFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64"}
    with Cluster(tmp_path, DAG, env=env) as cluster:
        _run_all(cluster, "LocalExecutor, SQLite")
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_many_task_instances_through_celery(
    tmp_path: Path, make_pg_database: Callable[[], str], redis_server: RedisServer
) -> None:
    env = {
        "DAGFLOW__CORE__PARALLELISM": "8",
        "DAGFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
        **celery_settings(redis_server.url),
    }
    with Cluster(tmp_path, DAG, db_url=make_pg_database(), env=env) as cluster:
        workers = ("w1", "w2")
        for name in workers:
            cluster.start_celery_worker(name, concurrency=4)
        _run_all(cluster, "CeleryExecutor, 2 workers x 4, PostgreSQL + Redis")
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")
        for name in workers:
            assert cluster.stop(name) == 0, cluster.log_tail(name)
