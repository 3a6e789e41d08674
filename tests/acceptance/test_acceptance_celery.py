"""Every acceptance case through the scale-out path: CeleryExecutor, PostgreSQL, Redis or RabbitMQ.

What ``run.py --mode scheduler --executor CeleryExecutor --db postgresql+psycopg://…
--broker …`` does, one case per test: a fresh PostgreSQL database, a real ``dagflow
scheduler`` and a real ``dagflow celery worker`` (both subprocesses, started once per
broker), each case triggered through the CLI and its task instances' final states
compared (``tasks states-for-dag-run``). Brokers: a throwaway Redis server of the module's
own, and a fresh RabbitMQ vhost.

To stay inside the CI budget (every ``dagflow`` command is a new interpreter): DAGs
are created unpaused (``core.dags_are_paused_at_creation=false``) instead of one
``dags unpause`` each, every case is triggered up front (the 13 DAGs are independent,
so their runs share the worker as in a real deployment), and a test waits for its
run by reading its state from the DB instead of polling ``dags state``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.services.dag_runs import dag_run_state, list_runs
from tests.acceptance.conftest import EXPECTED, HERE
from tests.integration.celery_helpers import READY_PREFIX, rabbitmq_vhost, redis_broker
from tests.servers import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def celery_env(
    request: pytest.FixtureRequest,
    acceptance: ModuleType,
    make_pg_database: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], dict[str, str], Database]]:
    """A scheduler and a Celery worker on a fresh PostgreSQL DB, every case triggered: (env, run ids, DB)."""
    broker_cm = redis_broker() if request.param == "redis" else rabbitmq_vhost()
    with broker_cm as broker:
        home = tmp_path_factory.mktemp(f"acceptance_celery_{request.param}")
        args = argparse.Namespace(executor="CeleryExecutor", db=make_pg_database(), broker=broker)
        env = acceptance.base_env(home, HERE / "dags", args)
        env["DAGFLOW__CORE__LOAD_EXAMPLES"] = "false"
        env["DAGFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "false"
        env["DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT"] = str(free_port())
        migrated = acceptance.dagflow(env, "db", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        scheduler = acceptance.start(env, "scheduler", log=home / "scheduler.out")
        worker = acceptance.start(env, "celery", "worker", log=home / "worker.out")
        triggerer = acceptance.start(env, "triggerer", log=home / "triggerer.out")
        try:
            acceptance.wait_for_dags(env, list(EXPECTED))
            _wait_ready(home / "worker.out", worker)
            with ThreadPoolExecutor(max_workers=4) as pool:  # each trigger is two CLI processes
                runs = dict(zip(EXPECTED, pool.map(lambda d: _trigger(acceptance, env, d), EXPECTED)))
            db = Database(load_settings(env))
            try:
                yield env, runs, db
            finally:
                db.dispose()
        finally:
            acceptance.stop(triggerer)
            acceptance.stop(worker)
            acceptance.stop(scheduler)
        assert scheduler.returncode == 0, (home / "scheduler.out").read_text()[-3000:]
        assert worker.returncode == 0, (home / "worker.out").read_text()[-3000:]


def _wait_ready(path: Path, worker: subprocess.Popen[bytes], seconds: float = 90) -> None:
    """Until the worker printed its ready line (it fails if the worker exits first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if READY_PREFIX in path.read_text(errors="replace"):
            return
        assert worker.poll() is None, f"celery worker exited: {path.read_text()[-3000:]}"
        time.sleep(0.2)
    raise AssertionError(f"celery worker not ready after {seconds}s: {path.read_text()[-3000:]}")


def _trigger(acceptance: ModuleType, env: dict[str, str], dag_id: str) -> str:
    """``run_scheduler_mode``'s first half: trigger (with the case's date and conf); the run id."""
    spec = EXPECTED[dag_id]
    cmd = ["dags", "trigger", dag_id, "--output", "json"]
    if spec.get("logical_date"):
        cmd += ["--logical-date", spec["logical_date"]]
    if spec.get("conf"):
        cmd += ["--conf", json.dumps(spec["conf"])]
    return str(acceptance.parse_json(acceptance.dagflow(env, *cmd), "dags trigger")["run_id"])


def _result(acceptance: ModuleType, env: dict[str, str], db: Database, dag_id: str, run_id: str) -> dict[str, Any]:
    """``run_scheduler_mode``'s second half: wait for the run to finish; its JSON (from the CLI)."""
    deadline = time.monotonic() + EXPECTED[dag_id].get("max_seconds", 60) + 120
    while time.monotonic() < deadline:
        if dag_run_state(db, dag_id=dag_id, run_id=run_id).state in acceptance.FINISHED_RUN:
            break
        time.sleep(0.3)
    proc = acceptance.dagflow(env, "tasks", "states-for-dag-run", dag_id, run_id, "--output", "json")
    return dict(acceptance.parse_json(proc, "tasks states-for-dag-run"))


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_celery_reaches_expected_states(
    acceptance: ModuleType,
    celery_env: tuple[dict[str, str], dict[str, str], Database],
    dag_id: str,
) -> None:
    env, runs, db = celery_env
    result = _result(acceptance, env, db, dag_id, runs[dag_id])
    assert acceptance.compare(EXPECTED[dag_id], result) == []
    assert result["dag_id"] == dag_id


def test_celery_asset_events_trigger_the_consumer(
    acceptance: ModuleType, celery_env: tuple[dict[str, str], dict[str, str], Database]
) -> None:
    """The producer (unpaused at creation, triggered up front) records events; the consumer gets an asset run."""
    env, runs, db = celery_env
    _result(acceptance, env, db, "acc_assets_producer", runs["acc_assets_producer"])
    deadline = time.monotonic() + 90
    states: list[str] = []
    while time.monotonic() < deadline:
        states = [r.state for r in list_runs(db, "acc_assets_consumer") if r.run_type == "asset_triggered"]
        if states and all(s in acceptance.FINISHED_RUN for s in states):
            break
        time.sleep(0.5)
    assert states and set(states) == {"success"}
