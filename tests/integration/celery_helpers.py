"""Shared helpers for tests with real Celery workers on real Redis / RabbitMQ and PostgreSQL.

Import what you need into a test module (fixtures too: pytest finds imported fixtures)::

    from tests.integration.celery_helpers import (
        CeleryWorker, celery_env, fresh_pg_url, make_rabbitmq_broker, make_redis_broker)

- ``redis_broker()`` / fixture factory ``make_redis_broker()``: the URL of a throwaway Redis
  server nobody else uses (``tests/servers.py``: own port, nothing persisted), stopped and
  deleted after. No test empties or stops the machine's shared Redis.
- ``rabbitmq_vhost()`` / fixture factory ``make_rabbitmq_broker()``: a fresh RabbitMQ vhost
  (``rabbitmqctl``) and its ``amqp://`` URL; that vhost, and only it, is deleted after.
- ``fresh_pg_url``: a module's own PostgreSQL database, migrated (``make_pg_database``).
- ``celery_env(home, ...)``: the environment of a dagflow process on that DB and broker.
- ``CeleryWorker``: a real ``dagflow celery worker`` subprocess (own session), started and
  waited for until it prints its ready line; ``stop()`` sends SIGTERM (warm shutdown),
  waits, and reports processes left in its session.
Every helper that needs a service skips when it is unreachable (or, for a throwaway server,
not installed), and fails instead when ``DAGFLOW_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from dagflow.config import load_settings
from dagflow.db import Database
from tests.servers import RedisServer, require_service, started

RABBITMQ_SERVER = os.environ.get("DAGFLOW_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
READY_PREFIX = "celery worker ready:"
#: Settings that make a test worker and scheduler quick to react.
FAST_ENV = {
    "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor",
    "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    "DAGFLOW__CORE__KILLED_TASK_CLEANUP_TIME": "2",
    "DAGFLOW__SCHEDULER__POLL_INTERVAL": "0.5",
    "DAGFLOW__SCHEDULER__HEARTBEAT_INTERVAL": "1",
    "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",
    "DAGFLOW__CELERY__WORKER_SHUTDOWN_GRACE": "5",
    "DAGFLOW__LOGGING__LEVEL": "INFO",
}


def _port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


# --- Redis ---------------------------------------------------------------------------------
@contextmanager
def redis_broker() -> Iterator[str]:
    """The URL of a throwaway Redis server of the caller's own; stopped and deleted after the block."""
    with started(RedisServer) as server:
        yield server.url


@pytest.fixture(scope="module")
def make_redis_broker() -> Iterator[Callable[[], str]]:
    """Factory: ``make_redis_broker()`` -> URL of a new throwaway Redis server, stopped at module end."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(redis_broker())


# --- RabbitMQ ------------------------------------------------------------------------------
def _rabbitmqctl(*args: str) -> None:
    done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)}: {done.stderr.strip()[-500:]}")


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A fresh RabbitMQ vhost (guest has all permissions on it); its ``amqp://`` URL. Deleted after."""
    require_service(_port_open(RABBITMQ_SERVER, 5672), f"RabbitMQ unreachable at {RABBITMQ_SERVER}")
    require_service(shutil.which("rabbitmqctl") is not None, "rabbitmqctl is not installed")
    name = f"dagflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    try:
        user = urlsplit(RABBITMQ_SERVER).username or "guest"
        _rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")
        yield f"{RABBITMQ_SERVER.rstrip('/')}/{name}"
    finally:
        _rabbitmqctl("delete_vhost", name)


@pytest.fixture(scope="module")
def make_rabbitmq_broker() -> Iterator[Callable[[], str]]:
    """Factory: ``make_rabbitmq_broker()`` -> URL of a fresh vhost, deleted at module end."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(rabbitmq_vhost())


# --- PostgreSQL ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fresh_pg_url(make_pg_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PostgreSQL database of this module's own, migrated to head."""
    url = make_pg_database()
    home = tmp_path_factory.mktemp("celery_pg_home")
    database = Database(load_settings({"DAGFLOW_HOME": str(home), "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": url}))
    database.migrate()
    database.dispose()
    return url


# --- processes -----------------------------------------------------------------------------
def celery_env(
    home: Path, *, db_url: str, broker_url: str, dags_folder: Path, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The environment of a dagflow process (scheduler, worker, CLI) on this DB and broker."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW__")}
    env.update(FAST_ENV)
    env.update(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url,
            "DAGFLOW__CELERY__BROKER_URL": broker_url,
            "DAGFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        }
    )
    env.update(extra or {})
    home.mkdir(parents=True, exist_ok=True)
    return env


class CeleryWorker:
    """A real ``dagflow celery worker`` subprocess in its own session; output in ``log_path``."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        queues: str | None = None,
        concurrency: int = 2,
        log_path: Path,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        args = [sys.executable, "-m", "dagflow", "celery", "worker", "--concurrency", str(concurrency)]
        if queues:
            args += ["--queues", queues]
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                args, env={**env, **(extra_env or {})}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    @property
    def pid(self) -> int:
        """The worker's main process id (also its session id)."""
        return self.proc.pid

    def output(self, chars: int = 4000) -> str:
        """The end of the worker's output."""
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def wait_ready(self, timeout: float = 60) -> CeleryWorker:
        """Block until the worker printed its ready line; AssertionError if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_PREFIX in self.output(chars=1 << 20):
                return self
            if self.proc.poll() is not None:
                raise AssertionError(f"celery worker exited with {self.proc.returncode}: {self.output()}")
            time.sleep(0.1)
        self.kill()
        raise AssertionError(f"celery worker not ready after {timeout}s: {self.output()}")

    def session_pids(self) -> list[int]:
        """Live (non-zombie) processes in the worker's session: the worker, its pool, its tries."""
        found = []
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if os.getsid(proc.pid) == self.pid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    found.append(proc.pid)
            except (ProcessLookupError, PermissionError, psutil.Error):
                continue
        return found

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (warm shutdown) and wait; SIGKILL the session and fail if it does not exit."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"celery worker did not stop within {timeout}s: {self.output()}") from None
        return int(self.proc.returncode)

    def kill(self) -> None:
        """SIGKILL every process of the worker's session and reap the worker."""
        for pid in [self.pid, *self.session_pids()]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
        self.proc.wait(10)

    def __enter__(self) -> CeleryWorker:
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.stop()
        finally:
            leftovers = self.session_pids()
            if leftovers:
                self.kill()
        if exc[0] is None:
            assert not leftovers, f"processes left behind by the worker: {leftovers}"


@contextmanager
def running_worker(
    env: dict[str, str],
    *,
    log_path: Path,
    queues: str | None = None,
    concurrency: int = 2,
    extra_env: dict[str, str] | None = None,
    timeout: float = 60,
) -> Iterator[CeleryWorker]:
    """A ready ``dagflow celery worker``, stopped (warm) after the block; no process may remain."""
    with CeleryWorker(env, queues=queues, concurrency=concurrency, log_path=log_path, extra_env=extra_env) as worker:
        worker.wait_ready(timeout)
        yield worker


# --- driving an in-process scheduler -------------------------------------------------------
def drive_scheduler(
    scheduler: Any, until: Callable[[], bool], *, timeout: float = 60, describe: Callable[[], object] = lambda: ""
) -> None:
    """Tick ``scheduler`` (a ``dagflow.scheduler.loop.Scheduler``) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        scheduler.wakeup.clear()
        report = scheduler.tick()
        if until():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {describe()}")
        scheduler.wakeup.wait(min(scheduler._wait_seconds(report), 0.5))


def task_rows(db: Database, dag_id: str, run_id: str) -> dict[str, Any]:
    """``task_id -> TaskInstance`` (detached copies) of one run."""
    import sqlalchemy as sa

    from dagflow.models import TaskInstance

    with db.transaction(readonly=True) as session:
        rows = session.scalars(
            sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
        ).all()
        session.expunge_all()
    return {ti.task_id: ti for ti in rows}


def run_state(db: Database, dag_id: str, run_id: str) -> str | None:
    """The state of one DAG run (its value), or None if it does not exist."""
    import sqlalchemy as sa

    from dagflow.models import DagRun

    with db.transaction(readonly=True) as session:
        state = session.scalars(
            sa.select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).one_or_none()
    return None if state is None else str(state.value)
