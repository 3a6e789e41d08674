"""Every acceptance case through ``dagflow dags test``, on SQLite and on PostgreSQL."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from tests.acceptance.conftest import EXPECTED, HERE


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None for the default SQLite file in DAGFLOW_HOME, else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    make_pg_database: Callable[[], str] = request.getfixturevalue("make_pg_database")
    return make_pg_database()


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dags_test_reaches_expected_states(
    acceptance: ModuleType, tmp_path: Path, database_url: str | None, dag_id: str
) -> None:
    spec = EXPECTED[dag_id]
    args = argparse.Namespace(executor="LocalExecutor", db=database_url, broker=None)
    env = acceptance.base_env(tmp_path, HERE / "dags", args)
    env["DAGFLOW__CORE__LOAD_EXAMPLES"] = "false"
    migrated = acceptance.dagflow(env, "db", "migrate")
    assert migrated.returncode == 0, migrated.stderr

    result = acceptance.run_test_mode(dag_id, spec, env)

    assert acceptance.compare(spec, result) == []
    assert result["dag_id"] == dag_id
