"""Secrets never leak: a canary password, extra token, sensitive variable and secret key stay out of
task logs (printed, logged, echoed by bash, rendered), CLI output and the raw DB rows; file modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from dagflow.cli.main import main
from tests.unit.cli.conftest import CliResult

PASSWORD = "pw-canary-41c9e7"
TOKEN = "tok-canary-0d8a55"
VARIABLE = "var-canary-b36f12"
SECRET_KEY = "webkey-canary-7e2a90"
CANARIES = (PASSWORD, TOKEN, VARIABLE, SECRET_KEY)

CANARY_DAG = """
import logging, os, subprocess, sys
from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator

def leak(**context):
    conn = context["conn"].warehouse
    print("password", conn.password, "uri", conn.get_uri())
    logging.getLogger("leak").warning("extra token %s", conn.extra_dejson["token"])
    print("variable", context["var"]["value"].service_api_key)
    print("conf", context["conf"].webserver.secret_key, "env", os.environ["DAGFLOW__WEBSERVER__SECRET_KEY"])
    subprocess.run([sys.executable, "-m", "dagflow", "connections", "get", "warehouse", "--show-password", "-o", "json"])

def fail(**context):
    raise ValueError("cannot log in with " + context["conn"].warehouse.password)

with DAG("canary", schedule=None):
    leaked = PythonOperator(task_id="leak", python_callable=leak)
    echoed = BashOperator(
        task_id="echo",
        bash_command="echo rendered {{ conn.warehouse.password }} {{ var.value.service_api_key }} "
        "{{ conf.webserver.secret_key }}; echo env $DAGFLOW__WEBSERVER__SECRET_KEY",
    )
    failed = PythonOperator(task_id="fail", python_callable=fail)
    leaked >> echoed >> failed
"""


def _add_canaries(run_cli: Callable[..., object]) -> None:
    uri = f"postgres://alice:{PASSWORD}@db.example.com:5432/sales?token={TOKEN}&sslmode=require"
    assert run_cli("connections", "add", "warehouse", "--conn-uri", uri).exit_code == 0  # type: ignore[attr-defined]
    assert run_cli("variables", "set", "service_api_key", VARIABLE).exit_code == 0  # type: ignore[attr-defined]
    assert run_cli("variables", "set", "region", "eu-west-1").exit_code == 0  # type: ignore[attr-defined]


def _run_failing_dags_test(env: dict[str, str]) -> CliResult:
    """``dagflow dags test canary``, which exits 1 through ``sys.exit`` (the run fails on purpose)."""
    runner = CliRunner()
    with runner.isolation(env=env) as (out, err, _):
        try:
            code = main(["dags", "test", "canary"])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def _assert_clean(text: str, where: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked into {where}"


@pytest.fixture
def canary_env(cli_env: dict[str, str]) -> dict[str, str]:
    cli_env["DAGFLOW__WEBSERVER__SECRET_KEY"] = SECRET_KEY
    (Path(cli_env["DAGFLOW_HOME"]) / "dags" / "canary.py").write_text(textwrap.dedent(CANARY_DAG))
    return cli_env


def test_cli_output_never_shows_the_secrets_unless_asked(canary_env: dict[str, str], run_cli) -> None:
    _add_canaries(run_cli)
    outputs = [
        run_cli("connections", "get", "warehouse"),
        run_cli("connections", "get", "warehouse", "-o", "json"),
        run_cli("connections", "list"),
        run_cli("connections", "list", "-o", "json"),
        run_cli("connections", "list", "-o", "plain"),
        run_cli("variables", "list"),
        run_cli("variables", "list", "-o", "json"),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.stderr
        _assert_clean(result.stdout + result.stderr, "CLI output")
    got = run_cli("connections", "get", "warehouse", "-o", "json").json()
    assert got["password"] == "***" and got["extra"] == {"token": "***", "sslmode": "require"}
    shown = run_cli("connections", "get", "warehouse", "--show-password", "-o", "json").json()
    assert shown["password"] == PASSWORD and shown["extra"]["token"] == TOKEN
    assert run_cli("variables", "get", "service_api_key").stdout == f"{VARIABLE}\n"  # its purpose, as in Airflow


def test_the_raw_database_rows_hold_no_plaintext(canary_env: dict[str, str], run_cli) -> None:
    _add_canaries(run_cli)
    with sqlite3.connect(Path(canary_env["DAGFLOW_HOME"]) / "dagflow.db") as raw:
        rows = raw.execute("SELECT * FROM connection").fetchall() + raw.execute("SELECT * FROM variable").fetchall()
    _assert_clean(repr(rows), "the database")
    assert "eu-west-1" not in repr(rows)  # every variable is encrypted, as in Airflow


def test_a_dag_run_never_writes_a_secret_into_its_logs(canary_env: dict[str, str], run_cli) -> None:
    _add_canaries(run_cli)
    result = _run_failing_dags_test(canary_env)
    assert result.exit_code == 1, result.stderr  # the last task fails on purpose
    _assert_clean(result.stdout + result.stderr, "dags test output")
    logs = {p.parent.name: p.read_text() for p in (Path(canary_env["DAGFLOW_HOME"]) / "logs").rglob("*.log")}
    assert set(logs) == {"task_id=leak", "task_id=echo", "task_id=fail"}
    for name, text in logs.items():
        _assert_clean(text, name)
    assert "password *** uri postgres://alice:***@db.example.com:5432/sales?token=***" in logs["task_id=leak"]
    assert "extra token ***" in logs["task_id=leak"] and "variable ***" in logs["task_id=leak"]
    assert "conf *** env ***" in logs["task_id=leak"]
    assert '"password": "***"' in logs["task_id=leak"]  # a subprocess printed it with --show-password
    assert "rendered *** *** ***" in logs["task_id=echo"] and "env ***" in logs["task_id=echo"]
    assert "ValueError: cannot log in with ***" in logs["task_id=fail"]
    assert "cannot log in with ***" in result.stdout  # the recorded end reason


def test_a_wrong_fernet_key_is_one_clear_error(canary_env: dict[str, str], run_cli) -> None:
    _add_canaries(run_cli)
    from cryptography.fernet import Fernet

    canary_env["DAGFLOW__CORE__FERNET_KEY"] = Fernet.generate_key().decode()
    got = run_cli("connections", "get", "warehouse")
    assert got.exit_code == 1 and got.stderr.splitlines() == [
        "Error: cannot decrypt connection 'warehouse': the fernet key does not match"
    ]
    assert run_cli("variables", "get", "service_api_key").stderr.splitlines() == [
        "Error: cannot decrypt variable 'service_api_key': the fernet key does not match"
    ]


def test_rotate_fernet_key(canary_env: dict[str, str], run_cli) -> None:
    _add_canaries(run_cli)
    home = Path(canary_env["DAGFLOW_HOME"])
    with sqlite3.connect(home / "dagflow.db") as raw:
        raw.execute("INSERT INTO variable (key, val, is_encrypted) VALUES ('legacy_token', 'legacy-canary', 0)")
        before = raw.execute("SELECT val FROM variable ORDER BY key").fetchall()
    first_key = (home / "fernet.key").read_text().split()
    rotated = run_cli("rotate-fernet-key", "--generate-key")
    assert rotated.exit_code == 0, rotated.stderr
    assert "Re-encrypted 4 value(s) and encrypted 1 plain value(s) with the first of 2 key(s)" in rotated.stdout
    keys = (home / "fernet.key").read_text().split()
    assert len(keys) == 2 and keys[1:] == first_key and stat.S_IMODE((home / "fernet.key").stat().st_mode) == 0o600
    with sqlite3.connect(home / "dagflow.db") as raw:
        after = raw.execute("SELECT val FROM variable ORDER BY key").fetchall()
        assert raw.execute("SELECT count(*) FROM variable WHERE NOT is_encrypted").fetchone() == (0,)
    assert not set(after) & set(before) and "legacy-canary" not in repr(after)
    (home / "fernet.key").write_text(keys[0] + "\n")  # the old key is no longer needed
    assert run_cli("variables", "get", "legacy_token").stdout == "legacy-canary\n"
    assert run_cli("variables", "get", "service_api_key").stdout == f"{VARIABLE}\n"
    shown = run_cli("connections", "get", "warehouse", "--show-password", "-o", "json").json()
    assert (shown["password"], shown["extra"]["token"]) == (PASSWORD, TOKEN)
    canary_env["DAGFLOW__CORE__FERNET_KEY"] = keys[0]
    refused = run_cli("rotate-fernet-key", "--generate-key")
    assert refused.exit_code == 1 and "core.fernet_key is set" in refused.stderr


def test_a_fresh_home_is_private_after_migrate_and_a_run(tmp_path: Path) -> None:
    home, dags = tmp_path / "fresh_home", tmp_path / "dags"
    dags.mkdir()
    (dags / "canary.py").write_text(textwrap.dedent(CANARY_DAG))
    env = {
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        "DAGFLOW__WEBSERVER__SECRET_KEY": SECRET_KEY,
    }

    def run(*args: str) -> int:
        with CliRunner().isolation(env=env):
            try:
                return main(list(args))
            except SystemExit as exc:  # `dags test` exits 1 when the run fails
                return int(exc.code or 0)

    old_umask = os.umask(0o022)  # the usual umask, under which files used to be created 0644
    try:
        assert run("db", "migrate") == 0
        assert run("connections", "add", "warehouse", "--conn-uri", f"postgres://a:{PASSWORD}@h/db?token={TOKEN}") == 0
        assert run("variables", "set", "service_api_key", VARIABLE) == 0
        assert run("dags", "test", "canary") == 1
        with sqlite3.connect(home / "dagflow.db") as raw:  # the WAL files exist while a connection is open
            raw.execute("SELECT count(*) FROM variable").fetchone()
            wal = [home / "dagflow.db-wal", home / "dagflow.db-shm"]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in wal if p.exists()}
    finally:
        os.umask(old_umask)
    assert all(mode == 0o600 for mode in modes.values()), modes
    found = {p: stat.S_IMODE(p.stat().st_mode) for p in [home, *home.rglob("*")]}
    assert home / "fernet.key" in found and home / "logs" in found
    for path, mode in found.items():
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path} is {oct(mode)}"
    assert len([p for p in found if p.suffix == ".log"]) == 3
