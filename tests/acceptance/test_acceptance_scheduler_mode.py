"""Every acceptance case through a real ``dagflow scheduler`` (SQLite, LocalExecutor).

One scheduler serves the whole module; each case unpauses and triggers its DAG through
the CLI, waits for the run to finish and compares every task instance's final state,
exactly as ``run.py --mode scheduler`` does.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from types import ModuleType

import pytest

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
    try:
        acceptance.wait_for_dags(env, list(EXPECTED))
        yield env
    finally:
        acceptance.stop(scheduler)
    assert scheduler.returncode == 0, (home / "scheduler.out").read_text()[-3000:]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_scheduler_reaches_expected_states(acceptance: ModuleType, scheduler_env: dict[str, str], dag_id: str) -> None:
    spec = EXPECTED[dag_id]
    result = acceptance.run_scheduler_mode(dag_id, spec, scheduler_env, spec.get("max_seconds", 60) + 60)
    assert acceptance.compare(spec, result) == []
    assert result["dag_id"] == dag_id
