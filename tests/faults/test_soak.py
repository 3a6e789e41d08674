"""The short reliability soak, for both executors: a mixed workload under seeded faults, every invariant held.

``benchmarks.soak`` deploys dagflow on servers of its own (throwaway PostgreSQL and Redis
for Celery, its own SQLite home for the LocalExecutor; never the machine's shared
services), runs about 300 task instances (fan-outs, chains, mapped tasks, a task that
fails its first try, reschedule-mode sensors, a task past its ``execution_timeout``, a
long task) and injects 10 faults at random moments from a fixed seed (kill -9 of workers,
task processes, schedulers and the DAG processor, a frozen worker, a full log
filesystem; with Celery also Redis and PostgreSQL restarts and dropped broker
connections). The test fails on any broken invariant (lost, doubled or overlapping
tries, a wrong final state, an unfinished or doubled run, an ended try without its reason,
a try without a log) and on any dagflow process that died of a fault it was not sent.
``DAGFLOW_SOAK_SEED`` replays another seed. The long soak (10 000 task instances, 100
faults) is ``python -m benchmarks soak --tis 10000 --faults 100`` (docs/reliability.md).
"""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.soak.cli import run_soak
from tests.servers import require_service, servers_installed

pytestmark = [pytest.mark.slow]

#: The issue's short soak: about 500 task instances and 15 faults per executor (about 2 minutes for both).
TIS = 500
FAULTS = 15
GAP_S = (0.5, 1.5)
SEEDS = {"local": 2101, "celery": 2102}


@pytest.mark.parametrize("executor", ["local", pytest.param("celery", marks=[pytest.mark.postgres, pytest.mark.redis])])
def test_short_soak_keeps_every_invariant(executor: str) -> None:
    if executor == "celery":
        require_service(
            servers_installed(), "a Redis server binary and PostgreSQL's binaries are needed for the Celery soak"
        )
    seed = int(os.environ.get("DAGFLOW_SOAK_SEED", SEEDS[executor]))
    report = run_soak(executor=executor, tis=TIS, faults=FAULTS, seed=seed, gap_s=GAP_S)
    summary = json.dumps({k: report[k] for k in ("seed", "checks", "died_by_themselves", "faults_not_injected")})
    print(f"{executor}: {summary}")
    assert report["checks"]["task_instances"] >= TIS
    assert report["faults_injected"] >= FAULTS - 2, f"only {report['faults_injected']} faults landed: {summary}"
    assert not report["checks"]["broken"], summary
    assert not report["died_by_themselves"], summary
    assert report["ok"]
