"""The CLI's one error boundary: one line on stderr, an exit code, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def dagflow(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "DAGFLOW_HOME": str(tmp_path / "home"),
        "DAGFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        **env,
    }
    full_env.pop("DAGFLOW_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "dagflow", *args], env=full_env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(autouse=True)
def _migrated_home(tmp_path: Path, _sqlite_template: Path) -> None:
    """The home's database is migrated (commands never migrate on a read)."""
    (tmp_path / "home").mkdir()
    shutil.copyfile(_sqlite_template, tmp_path / "home" / "dagflow.db")


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert text in lines[0]
    assert "Traceback" not in proc.stderr


def test_unknown_dag_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()

    assert_one_line_error(dagflow(tmp_path, "dags", "test", "nope"), 1, "DAG 'nope' not found")


def test_unmigrated_database_is_one_line_and_stays_empty(tmp_path: Path) -> None:
    (tmp_path / "home" / "dagflow.db").unlink()
    (tmp_path / "dags").mkdir()

    for args in (["dags", "list"], ["pools", "list"], ["dags", "trigger", "x"]):
        assert_one_line_error(dagflow(tmp_path, *args), 1, "not initialised: run `dagflow db migrate`")

    assert dagflow(tmp_path, "db", "check").returncode == 1  # still nothing created by a read


def test_bad_config_value_is_one_line(tmp_path: Path) -> None:
    proc = dagflow(tmp_path, "dags", "list", DAGFLOW__CORE__PARALLELISM="lots")

    assert_one_line_error(proc, 1, "core.parallelism: expected int, got 'lots'")


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["dags", "test", "x", "not-a-date"], "is not an ISO-8601 date"),
        (["dags", "test", "x", "--conf", "[1, 2]"], "must be a JSON object"),
        (["dags", "test", "x", "--conf", "{oops"], "not valid JSON"),
        (["dags", "nosuchcommand"], "No such command"),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], text: str) -> None:
    proc = dagflow(tmp_path, *args)

    assert proc.returncode == 2, proc.stderr
    assert text in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    proc = dagflow(
        tmp_path, "db", "check", DAGFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_broken_dag_file_is_listed_and_others_still_run(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "broken_dag.py").write_text("from dagflow import DAG\nraise ValueError('bad dag file')\n")
    (dags / "fine.py").write_text(
        "from datetime import datetime\nfrom dagflow import DAG\nfrom dagflow.operators import EmptyOperator\n"
        "with DAG('fine', schedule=None, start_date=datetime(2024, 1, 1)):\n    EmptyOperator(task_id='t')\n"
    )

    errors = dagflow(tmp_path, "dags", "list-import-errors", "--output", "plain")
    ran = dagflow(tmp_path, "dags", "test", "fine")

    assert errors.returncode == 0, errors.stderr
    assert "broken_dag.py\t2\tValueError: bad dag file" in errors.stdout
    assert ran.returncode == 0, ran.stderr


def test_a_dag_file_that_never_finishes_importing_does_not_hang_the_cli(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "loop_dag.py").write_text("from dagflow import DAG\nwhile True:\n    pass\n")

    listed = dagflow(
        tmp_path, "dags", "list-import-errors", "--output", "json", DAGFLOW__SCHEDULER__PARSING_TIMEOUT="2"
    )

    assert listed.returncode == 0, listed.stderr
    assert "timed out after 2s" in listed.stdout


def test_sigusr1_prints_every_threads_stack_and_the_process_goes_on() -> None:
    script = (
        "import os, signal\n"
        "from dagflow.cli.main import main\n"
        "main(['--version'])\n"
        "os.kill(os.getpid(), signal.SIGUSR1)\n"
        "print('still running')\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("still running")
    assert "most recent call first" in proc.stderr
    assert 'File "<string>", line 4' in proc.stderr  # the main thread, stopped at the kill
