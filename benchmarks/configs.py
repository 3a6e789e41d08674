"""The configurations a workload runs on, and whether each can run on this machine.

- ``sqlite-local``: SQLite metadata DB (WAL) in the temporary ``DAGFLOW_HOME``,
  LocalExecutor (warm worker processes forked by the scheduler);
- ``postgres-celery``: a fresh PostgreSQL database per run (dropped afterwards),
  CeleryExecutor with a Redis broker, and ``dagflow celery worker`` processes started by
  the runner. The broker is a throwaway ``redis-server`` of the run's own (a free port,
  nothing on disk, stopped afterwards), so runs side by side never take each other's
  messages and no shared Redis is touched; with ``DAGFLOW_BENCH_REDIS_URL`` set (or no
  ``redis-server`` on the PATH) it is DB ``BROKER_DB`` of that server, emptied before and
  after each run.

Everything else is dagflow's defaults (``core.parallelism`` 32, ``max_active_tasks``
16 per DAG, ``scheduler.poll_interval`` 1 s, ...), except that DAGs are created
unpaused and the example DAGs are not loaded. ``DAGFLOW_BENCH_PG_URL`` and
``DAGFLOW_BENCH_REDIS_URL`` point at other servers.

Every ``dagflow`` process runs under ``python``: this interpreter by default, or
another checkout's (``--dagflow-root PATH`` -> ``PATH/.venv/bin/python``), so one harness
measures two versions of dagflow in alternation.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

PG_SERVER = os.environ.get("DAGFLOW_BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
REDIS_SERVER = os.environ.get("DAGFLOW_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
#: Redis DB the Celery broker uses (the benchmark's own: 12-14 are reserved for it).
BROKER_DB = 12
CONFIG_NAMES = ("sqlite-local", "postgres-celery")


@dataclass
class Environment:
    """One prepared run: a ``DAGFLOW_HOME``, a DAG folder and the env for ``dagflow``."""

    config: str
    root: Path
    env: dict[str, str]
    db_url: str
    celery_workers: int = 0
    #: The interpreter that runs ``python -m dagflow`` (the dagflow under test).
    python: str = sys.executable
    _pg_database: str | None = None
    _redis: subprocess.Popen[bytes] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def dags(self) -> Path:
        """The DAG folder."""
        return self.root / "dags"

    def cleanup(self) -> None:
        """Drop the run's PostgreSQL database and empty the broker DB."""
        if self._pg_database is not None:
            _drop_pg_database(self._pg_database)
            self._pg_database = None
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(timeout=30)
            self._redis = None
        elif self.config == "postgres-celery":
            _flush_redis()
        shutil.rmtree(self.root, ignore_errors=True)


def base_env(root: Path) -> dict[str, str]:
    """The settings every configuration shares."""
    home, dags = root / "home", root / "dags"
    home.mkdir(parents=True, exist_ok=True)
    dags.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW__")}
    env.update(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
            "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
            "DAGFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "false",
            "DAGFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def setting_env(settings: list[str]) -> dict[str, str]:
    """``["core.tries_per_worker=8"]`` -> ``{"DAGFLOW__CORE__TRIES_PER_WORKER": "8"}`` (``--set``)."""
    env = {}
    for item in settings:
        name, sep, value = item.partition("=")
        section, dot, key = name.strip().partition(".")
        if not sep or not dot or not section or not key:
            raise ValueError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        env[f"DAGFLOW__{section.upper()}__{key.upper()}"] = value
    return env


def dagflow_python(checkout: Path | None) -> str:
    """The interpreter of ``checkout`` (its ``.venv``, or the one given), or this one."""
    if checkout is None:
        return sys.executable
    if checkout.is_file():
        return str(checkout)
    for candidate in (checkout / ".venv" / "bin" / "python", checkout / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    raise ValueError(f"no Python found for {checkout} (looked for .venv/bin/python and bin/python)")


def dagflow_version(python: str) -> dict[str, str | None]:
    """Where the dagflow that ``python`` imports lives, and its git commit."""
    probe = subprocess.run(
        [python, "-c", "import dagflow, os; print(os.path.dirname(os.path.dirname(dagflow.__file__)))"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    location = probe.stdout.strip() or None
    commit = None
    if location is not None:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=location, capture_output=True, text=True, timeout=10
        )
        commit = rev.stdout.strip() or None
    return {"python": python, "location": location, "commit": commit}


def prepare(
    config: str, root: Path, *, sqlite_template: Path | None, celery_workers: int, python: str = sys.executable
) -> Environment:
    """A fresh environment for one run of ``config`` under ``root`` (DB migrated)."""
    env = base_env(root)
    if config == "sqlite-local":
        url = f"sqlite:///{root / 'home' / 'dagflow.db'}"
        env.update({"DAGFLOW__CORE__EXECUTOR": "LocalExecutor", "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": url})
        if sqlite_template is not None:
            shutil.copyfile(sqlite_template, root / "home" / "dagflow.db")
        else:
            migrate(env, python)
        return Environment(config, root, env, url, python=python)
    name = f"dagflow_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _create_pg_database(name)
    url = _pg_url(name)
    redis_server, broker_url = _own_redis(root) if _use_own_redis() else (None, f"{REDIS_SERVER}/{BROKER_DB}")
    env.update(
        {
            "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
            "DAGFLOW__CELERY__BROKER_URL": broker_url,
            "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",  # no port to clash with other workers here
        }
    )
    environment = Environment(
        config, root, env, url, celery_workers=celery_workers, python=python, _pg_database=name, _redis=redis_server
    )
    if redis_server is None:
        _flush_redis()
    migrate(env, python)
    return environment


def _use_own_redis() -> bool:
    """A throwaway broker unless a Redis URL was given or there is no ``redis-server`` here."""
    return "DAGFLOW_BENCH_REDIS_URL" not in os.environ and shutil.which("redis-server") is not None


def _own_redis(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a ``redis-server`` for one run on a free port (nothing saved); it and its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(root / "redis.log", "wb")  # noqa: SIM115 - the server's output, closed with the process
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=root,
    )
    url = f"redis://127.0.0.1:{port}/0"
    import redis

    deadline = time.monotonic() + 20
    while True:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return server, url
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(f"redis-server on port {port} did not start (see {root / 'redis.log'})") from None
            time.sleep(0.05)


def migrate(env: dict[str, str], python: str = sys.executable) -> None:
    """``dagflow db migrate`` for this environment (the real command)."""
    proc = subprocess.run(
        [python, "-m", "dagflow", "db", "migrate"],
        env=env,
        cwd=env["DAGFLOW_HOME"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dagflow db migrate failed: {proc.stderr.strip()[-500:]}")


def unavailable_reason(config: str, python: str = sys.executable) -> str | None:
    """None if ``config`` can run here (with the dagflow of ``python``), else a one-line reason."""
    if config == "sqlite-local":
        return None
    if config != "postgres-celery":
        return f"unknown configuration {config!r}"
    probe = subprocess.run(
        [python, "-m", "dagflow", "celery", "worker", "--help"],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if probe.returncode != 0:
        return "`dagflow celery worker` does not exist in this checkout yet (CeleryExecutor not merged)"
    try:
        _pg_admin_ping()
    except Exception as exc:
        return f"PostgreSQL unreachable at {PG_SERVER}: {str(exc).splitlines()[0]}"
    if _use_own_redis():
        return None
    try:
        import redis

        redis.Redis.from_url(f"{REDIS_SERVER}/{BROKER_DB}", socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis unreachable at {REDIS_SERVER}: {str(exc).splitlines()[0]}"
    return None


def _pg_url(database: str) -> str:
    import sqlalchemy as sa

    url = sa.make_url(PG_SERVER).set(drivername="postgresql+psycopg", database=database)
    return url.render_as_string(hide_password=False)


def _admin_connect():  # type: ignore[no-untyped-def]
    import psycopg

    url = PG_SERVER.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def _pg_admin_ping() -> None:
    with _admin_connect() as conn:
        conn.execute("SELECT 1")


def _create_pg_database(name: str) -> None:
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_pg_database(name: str) -> None:
    with _admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _flush_redis() -> None:
    import redis

    redis.Redis.from_url(f"{REDIS_SERVER}/{BROKER_DB}", socket_connect_timeout=3).flushdb()
