"""A long-running component started while the metadata DB server is away waits for it.

systemd, Kubernetes or the reliability soak start a scheduler again the moment it dies;
if PostgreSQL is restarting (or failing over) at that moment, the new scheduler, DAG
processor or triggerer used to exit at once with "cannot connect to the metadata
database" — and die again, and again. Now each retries its start for
``database.startup_wait_timeout`` seconds, saying so in one line, while a wrong setting
(a database that does not exist) still fails at once with one line.

The server is the session's throwaway ``postgres_server`` (own port, own data dir),
stopped and started by the test; never the machine's shared PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import load_settings
from dagflow.db import Database, is_transient_connect_error, when_reachable
from dagflow.exceptions import DatabaseError
from dagflow.models import Job
from tests.servers import PostgresServer, free_port

pytestmark = [pytest.mark.postgres]

#: job_type of each component's ``job`` row, by CLI command.
COMPONENTS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}
RETRY_LINE = "the metadata database is unreachable, retrying"


def _env(home: Path, db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW__")}
    (home / "dags").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "DAGFLOW__CORE__EXECUTOR": "LocalExecutor",
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            **extra,
        }
    )
    return env


@contextmanager
def _components(home: Path, env: dict[str, str]) -> Iterator[dict[str, subprocess.Popen[bytes]]]:
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for command in COMPONENTS:
            with (home / f"{command}.log").open("wb") as out:
                procs[command] = subprocess.Popen(
                    [sys.executable, "-m", "dagflow", command], env=env, stdout=out, stderr=subprocess.STDOUT
                )
        yield procs
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _job_types(db_url: str) -> set[str]:
    db = Database(load_settings({"DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url}))
    try:
        with db.transaction(readonly=True) as session:
            return set(session.scalars(sa.select(Job.job_type)))
    except (DatabaseError, sa.exc.ProgrammingError):  # away, or not migrated yet
        return set()
    finally:
        db.dispose()


def test_components_started_while_postgres_is_away_wait_for_it(tmp_path: Path, postgres_server: PostgresServer) -> None:
    db_url = postgres_server.create_database("dagflow_startwait")
    env = _env(tmp_path, db_url, DAGFLOW__DATABASE__STARTUP_WAIT_TIMEOUT="120")
    postgres_server.stop()
    try:
        with _components(tmp_path, env) as procs:
            # Each imports dagflow and finds the server away; give them the time to get there.
            deadline = time.monotonic() + 60
            logs = {command: tmp_path / f"{command}.log" for command in procs}
            while time.monotonic() < deadline and not all(RETRY_LINE in p.read_text() for p in logs.values()):
                exited = {c: p.returncode for c, p in procs.items() if p.poll() is not None}
                assert not exited, f"exited while the DB was away: {exited}: {_tails(logs)}"
                time.sleep(0.2)
            assert all(RETRY_LINE in p.read_text() for p in logs.values()), _tails(logs)
            postgres_server.start()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and _job_types(db_url) != set(COMPONENTS.values()):
                exited = {c: p.returncode for c, p in procs.items() if p.poll() is not None}
                assert not exited, f"exited: {exited}: {_tails(logs)}"
                time.sleep(0.3)
            assert _job_types(db_url) == set(COMPONENTS.values()), _tails(logs)
            assert all(p.poll() is None for p in procs.values()), _tails(logs)
    finally:
        postgres_server.start()


def test_a_database_that_does_not_exist_fails_at_once_with_one_line(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    missing = sa.make_url(postgres_server.url).set(database="dagflow_no_such_database")
    env = _env(
        tmp_path,
        missing.render_as_string(hide_password=False),
        DAGFLOW__DATABASE__STARTUP_WAIT_TIMEOUT="600",  # a retry would outlast the run's timeout below
    )
    done = subprocess.run(
        [sys.executable, "-m", "dagflow", "scheduler"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert RETRY_LINE not in done.stderr


def test_only_a_server_that_is_away_counts_as_transient(tmp_path: Path, postgres_server: PostgresServer) -> None:
    away = Database(
        load_settings({"DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://root@127.0.0.1:{free_port()}/x"})
    )
    missing_db = sa.make_url(postgres_server.url).set(database="dagflow_no_such_database")
    missing = Database(
        load_settings({"DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": missing_db.render_as_string(hide_password=False)})
    )
    no_folder = Database(load_settings({"DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/none/x.db"}))
    errors = {}
    for name, db in (("away", away), ("missing", missing), ("no_folder", no_folder)):
        try:
            db.current_revision()
        except Exception as exc:
            errors[name] = exc
        finally:
            db.dispose()
    assert set(errors) == {"away", "missing", "no_folder"}
    assert is_transient_connect_error(errors["away"])
    assert not is_transient_connect_error(errors["missing"])
    assert not is_transient_connect_error(errors["no_folder"])

    # when_reachable: retried while transient, raised once the time is up; others at once.
    clock = [0.0]
    calls = []

    def step(error: BaseException) -> None:
        calls.append(error)
        raise error

    with pytest.raises(DatabaseError):
        when_reachable(
            lambda: step(errors["away"]),
            5.0,
            "test",
            sleep=lambda s: clock.__setitem__(0, clock[0] + s),
            clock=lambda: clock[0],
        )
    assert len(calls) == 6  # at 0, 1, ... 5 s
    calls.clear()
    with suppress(DatabaseError):
        when_reachable(lambda: step(errors["missing"]), 5.0, "test", sleep=lambda s: None)
    assert len(calls) == 1


def _tails(logs: dict[str, Path]) -> str:
    return " | ".join(f"{c}: {p.read_text()[-600:]}" for c, p in logs.items() if p.exists())
