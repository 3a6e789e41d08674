"""Shell injection through params (security issue #13, item 5), reproduced through ``dags test``.

A conf value inlined into ``bash_command`` is shell code, in Airflow and in dagflow alike:
the first test documents that Airflow-compatible behaviour. ``| shell_quote`` makes the
value one literal shell word; ``env=`` keeps it out of the command text altogether.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.cli.conftest import CliResult

DAG_FILE = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import BashOperator

for dag_id, command, env in [
    ("inline", "echo {{ params.x }}", None),
    ("quoted", "echo {{ params.x | shell_quote }}", None),
    ("native_quoted", "{{ 'echo' }} {{ params.x | shell_quote }}", None),
    ("via_env", 'echo "$X"', {"X": "{{ params.x }}"}),
]:
    with DAG(dag_id, schedule=None, start_date=datetime(2024, 1, 1), params={"x": "hello"},
             render_template_as_native_obj=dag_id.startswith("native")):
        BashOperator(task_id="echo", bash_command=command, env=env)
"""


@pytest.fixture
def marker(cli_env: dict[str, str], tmp_path: Path) -> Path:
    """Where an injected ``touch`` would create its file (not there yet)."""
    (Path(cli_env["DAGFLOW_HOME"]) / "dags" / "shell_dags.py").write_text(textwrap.dedent(DAG_FILE))
    path = tmp_path / "MARKER"
    assert not path.exists()
    return path


def _test_and_log(run_cli: Callable[..., CliResult], dag_id: str, value: str) -> str:
    result = run_cli("dags", "test", dag_id, "--conf", json.dumps({"x": value}), "-o", "json")
    assert result.exit_code == 0, result.stderr
    return run_cli("tasks", "logs", dag_id, "echo", result.json()["run_id"]).stdout


def test_an_inlined_param_is_shell_code_as_in_airflow(run_cli: Callable[..., CliResult], marker: Path) -> None:
    _test_and_log(run_cli, "inline", f"$(touch {marker})")
    assert marker.exists()  # the documented risk: never inline a param into a shell command unquoted


@pytest.mark.parametrize("dag_id", ["quoted", "native_quoted", "via_env"])
def test_a_quoted_or_env_param_is_only_text(run_cli: Callable[..., CliResult], marker: Path, dag_id: str) -> None:
    value = f"$(touch {marker}); `touch {marker}` 'it''s' \"q\""
    log = _test_and_log(run_cli, dag_id, value)
    assert not marker.exists()
    assert value in log.splitlines()  # echoed back literally, on a line of its own
