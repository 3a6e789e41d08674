"""Every acceptance case through a real ``dagflow scheduler`` (SQLite, LocalExecutor).

One scheduler and one triggerer serve the whole module; each case unpauses and triggers its DAG through
the CLI, waits for the run to finish and compares every task instance's final state,
exactly as ``run.py --mode scheduler`` does.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
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
    """The producer's events (its case above, or a run made here) give the consumer an ``asset_triggered`` run."""
    env = scheduler_env
    db = Database(load_settings(env))
    try:
        done = [r for r in list_runs(db, "acc_assets_producer") if r.state == "success"]
        run_id = done[0].run_id if done else None
        if run_id is None:  # this test alone: make the producer run
            spec = EXPECTED["acc_assets_producer"]
            run_id = acceptance.run_scheduler_mode("acc_assets_producer", spec, env, 90)["run_id"]
        events = list_asset_events(db, uri="file:///acceptance/orders.csv")
        ours = [e for e in events if e.extra.get("run_id") == run_id]
        assert len(ours) == 1 and ours[0].source_task_id == "write_orders"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            runs = [
                r
                for r in (run.to_dict() for run in list_runs(db, "acc_assets_consumer"))
                if r["run_type"] == "asset_triggered" and r["logical_date"] >= ours[0].timestamp.isoformat()
            ]
            if runs and runs[-1]["state"] in acceptance.FINISHED_RUN:
                assert runs[-1]["state"] == "success"
                return
            time.sleep(0.2)
    finally:
        db.dispose()
    raise AssertionError(f"no asset_triggered run of acc_assets_consumer after {ours[0].timestamp}")


def test_dags_test_owns_its_run_while_the_scheduler_runs(acceptance: ModuleType, scheduler_env: dict[str, str]) -> None:
    """``dags test`` of an unpaused DAG, with this module's scheduler running on the same DB: no race."""
    dag_id = "acc_retries"  # retries with a delay: a scheduler that took the run over would show it
    spec = {**EXPECTED[dag_id], "logical_date": "2030-01-01"}
    assert acceptance.dagflow(scheduler_env, "dags", "unpause", dag_id).returncode == 0
    result = acceptance.run_test_mode(dag_id, spec, scheduler_env)
    assert acceptance.compare(spec, result) == []
    assert result["run_id"] == "manual__2030-01-01T00:00:00+00:00"
    with sqlite3.connect(Path(scheduler_env["DAGFLOW_HOME"]) / "dagflow.db") as conn:  # who queued each try
        rows = conn.execute(
            "SELECT task_id, queued_by_job_id FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, result["run_id"]),
        ).fetchall()
        triggered_by = conn.execute(
            "SELECT triggered_by FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, result["run_id"])
        ).fetchone()
    assert triggered_by == ("test",)
    assert len(rows) == len(spec["tasks"]) and all(job is None for _, job in rows), rows  # never the scheduler
