"""CLI fixtures: a fresh ``DAGFLOW_HOME`` with a small DAG folder, and ``run_cli`` through ``main()``.

``run_cli`` goes through ``dagflow.cli.main.main`` (the real error boundary and exit
codes) inside click's ``CliRunner`` isolation, so stdout and stderr are separate.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dagflow.cli.main import main
from dagflow.config import Settings, load_settings
from dagflow.db import Database

DAG_FILE = """
from datetime import datetime

from dagflow import DAG, Param
from dagflow.operators import ApprovalOperator, EmptyOperator

with DAG("cli_dag", schedule="@daily", start_date=datetime(2024, 1, 1),
         params={"n": Param(1, type="integer")}):
    a = EmptyOperator(task_id="a", retries=2)
    b = EmptyOperator(task_id="b", retries=1)
    c = EmptyOperator(task_id="c")
    d = EmptyOperator(task_id="d")
    a >> b >> c
    a >> d

with DAG("approval_dag", schedule=None, start_date=datetime(2024, 1, 1)):
    wait = ApprovalOperator(task_id="wait", message="ship it?")
    done = EmptyOperator(task_id="done")
    wait >> done
"""


@dataclass
class CliResult:
    """Exit code and the two output streams of one CLI call."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.stdout)


@pytest.fixture
def cli_env(tmp_path: Path, _sqlite_template: Path) -> dict[str, str]:
    """Environment of a fresh home, its database migrated, whose DAG folder holds ``cli_dag`` and ``approval_dag``.

    Commands never migrate on their own (``dagflow db migrate`` does): the home gets a
    copy of the session's migrated SQLite file, as a deployment would after ``db migrate``.
    """
    home = tmp_path / "home"
    dags = home / "dags"
    dags.mkdir(parents=True)
    (dags / "cli_dags.py").write_text(textwrap.dedent(DAG_FILE))
    shutil.copyfile(_sqlite_template, home / "dagflow.db")
    return {"DAGFLOW_HOME": str(home), "DAGFLOW__CORE__LOAD_EXAMPLES": "false", "DAGFLOW_DEBUG": ""}


@pytest.fixture
def run_cli(cli_env: dict[str, str]) -> Callable[..., CliResult]:
    """Call ``dagflow ARGS...`` in-process; returns a ``CliResult``."""

    def run(*args: str, input: str | None = None) -> CliResult:  # noqa: A002 - CliRunner's name
        runner = CliRunner()
        with runner.isolation(input=input, env=cli_env) as (out, err, _):
            code = main(list(args))
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())

    return run


@pytest.fixture
def cli_settings(cli_env: dict[str, str]) -> Settings:
    """The settings the CLI sees."""
    return load_settings(cli_env)


@pytest.fixture
def cli_db(cli_settings: Settings, run_cli: Callable[..., CliResult]) -> Database:
    """The CLI's database, migrated (through ``dagflow db migrate``)."""
    cli_settings.home.mkdir(parents=True, exist_ok=True)
    assert run_cli("db", "migrate").exit_code == 0
    database = Database(cli_settings)
    yield database  # type: ignore[misc]
    database.dispose()
