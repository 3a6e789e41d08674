"""Every acceptance case through ``dagflow dags test`` (in-process runs on SQLite)."""

from __future__ import annotations

import argparse
from pathlib import Path
from types import ModuleType

import pytest

from tests.acceptance.conftest import EXPECTED, HERE


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dags_test_reaches_expected_states(acceptance: ModuleType, tmp_path: Path, dag_id: str) -> None:
    spec = EXPECTED[dag_id]
    args = argparse.Namespace(executor="LocalExecutor", db=None, broker=None)
    env = acceptance.base_env(tmp_path, HERE / "dags", args)
    env["DAGFLOW__CORE__LOAD_EXAMPLES"] = "false"
    migrated = acceptance.dagflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr

    result = acceptance.run_test_mode(dag_id, spec, env)

    assert acceptance.compare(spec, result) == []
    assert result["dag_id"] == dag_id
