"""Every acceptance case through a real ``dagflow scheduler`` (SQLite, LocalExecutor).

One scheduler and one triggerer serve the whole module; each case unpauses and triggers its DAG through
the CLI, waits for the run to finish and compares every task instance's final state,
exactly as ``run.py --mode scheduler`` does.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from types import ModuleType

import pytest

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.services.assets import list_asset_events
from dagflow.services.dag_runs import list_runs
from tests.acceptance.conftest import EXPECTED, HERE


@pytest.fixture(scope="module")
def scheduler_env(acceptance: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A migrated DAGFLOW_HOME with a scheduler running on the acceptance DAGs."""
    home = tmp_path_factory.mktemp("acceptance_scheduler")
    args = argparse.Namespace(executor="LocalExecutor", db=None, broker=None)
    env = acceptance.base_env(home, HERE / "dags", args)
    env["DAGFLOW__CORE__LOAD_EXAMPLES"] = "false"
    migrated = acceptance.dagflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr
    scheduler = acceptance.start(env, "scheduler", log=home / "scheduler.out")
    triggerer = acceptance.start(env, "triggerer", log=home / "triggerer.out")
    try:
        acceptance.wait_for_dags(env, list(EXPECTED))
        yield env
    finally:
        acceptance.stop(triggerer)
        acceptance.stop(scheduler)
    assert scheduler.returncode == 0, (home / "scheduler.out").read_text()[-3000:]
    assert triggerer.returncode == 0, (home / "triggerer.out").read_text()[-3000:]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_scheduler_reaches_expected_states(acceptance: ModuleType, scheduler_env: dict[str, str], dag_id: str) -> None:
    spec = EXPECTED[dag_id]
    result = acceptance.run_scheduler_mode(dag_id, spec, scheduler_env, spec.get("max_seconds", 60) + 60)
    assert acceptance.compare(spec, result) == []
    assert result["dag_id"] == dag_id


def test_producer_run_triggers_the_asset_consumer(acceptance: ModuleType, scheduler_env: dict[str, str]) -> None:
    """A producer run's events make an ``asset_triggered`` run of the consumer, which reads them."""
    env = scheduler_env
    acceptance.dagflow(env, "dags", "unpause", "acc_assets_consumer")
    produced = acceptance.run_scheduler_mode("acc_assets_producer", EXPECTED["acc_assets_producer"], env, 90)
    assert produced["state"] == "success"
    db = Database(load_settings(env))
    try:
        events = list_asset_events(db, uri="file:///acceptance/orders.csv")
        ours = [e for e in events if e.extra.get("run_id") == produced["run_id"]]
        assert len(ours) == 1 and ours[0].source_task_id == "write_orders"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [
                r
                for r in list_runs(db, "acc_assets_consumer")
                if r["run_type"] == "asset_triggered" and r["logical_date"] >= ours[0].timestamp.isoformat()
            ]
            if runs and runs[0]["state"] in acceptance.FINISHED_RUN:
                assert runs[0]["state"] == "success"
                return
            time.sleep(0.3)
    finally:
        db.dispose()
    raise AssertionError(f"no asset_triggered run of acc_assets_consumer after {ours[0].timestamp}")
