"""The soak's deployment: its own servers and the dagflow processes, each in its own session.

Celery: a PostgreSQL cluster and a Redis server of the soak's own (``tests/servers.py``:
free ports of 127.0.0.1, own data dirs, deleted at the end), two schedulers, two
``dagflow celery worker`` processes. Local: the soak's own SQLite home and one scheduler
(SQLite allows one; its LocalExecutor workers are its children). Both: a standalone
``dagflow dag-processor``. The machine's shared PostgreSQL, Redis and RabbitMQ are never used.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.soak.workload import dag_source
from dagflow.config import load_settings
from dagflow.db import Database
from tests.servers import PostgresServer, RedisServer

#: Settings that make every timeout of the soak a matter of seconds.
SOAK_SETTINGS = {
    "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    "DAGFLOW__CORE__KILLED_TASK_CLEANUP_TIME": "2",
    "DAGFLOW__CORE__PARALLELISM": "8",
    "DAGFLOW__SCHEDULER__POLL_INTERVAL": "0.3",
    "DAGFLOW__SCHEDULER__HEARTBEAT_INTERVAL": "0.5",
    "DAGFLOW__SCHEDULER__HEARTBEAT_TIMEOUT": "10",
    "DAGFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "30",
    "DAGFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "true",
    "DAGFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
    "DAGFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "600",
    "DAGFLOW__SCHEDULER__CHECK_SLAS": "false",
    "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",
    "DAGFLOW__CELERY__WORKER_SHUTDOWN_GRACE": "5",
    "DAGFLOW__LOGGING__LEVEL": "INFO",
}
WORKER_READY = "celery worker ready:"


@dataclass
class Process:
    """One dagflow process the soak started (a session leader)."""

    name: str
    args: tuple[str, ...]
    popen: subprocess.Popen[bytes]
    #: Set while the soak itself killed or stopped it (not a death "by itself").
    expected_exit: bool = False


@dataclass
class Deployment:
    """Servers, home, DAG folder, ledger and the running processes of one soak."""

    executor: str
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Process] = field(default_factory=dict)
    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    died: list[str] = field(default_factory=list)
    #: check_deaths runs in the soak's loop and in the fault injector's thread.
    _deaths_lock: threading.Lock = field(default_factory=threading.Lock)
    _stack: ExitStack = field(default_factory=ExitStack)
    db: Database | None = None

    @property
    def home(self) -> Path:
        """``DAGFLOW_HOME``."""
        return self.root / "home"

    @property
    def ledger(self) -> Path:
        """The ledger every task execution appends to."""
        return self.root / "ledger.log"

    @property
    def log_folder(self) -> Path:
        """``logging.base_log_folder``."""
        return self.root / "logs"

    def open(self) -> Deployment:
        """Start the servers, write the DAG file, migrate the database."""
        for folder in (self.home, self.root / "dags", self.root / "marks", self.log_folder):
            folder.mkdir(parents=True, exist_ok=True)
        (self.root / "dags" / "soak_dags.py").write_text(dag_source(str(self.ledger), str(self.root / "marks")))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW__")}
        self.env.update(SOAK_SETTINGS)
        self.env.update(
            {
                "DAGFLOW_HOME": str(self.home),
                "DAGFLOW__CORE__DAGS_FOLDER": str(self.root / "dags"),
                "DAGFLOW__LOGGING__BASE_LOG_FOLDER": str(self.log_folder),
            }
        )
        if self.executor == "celery":
            self.postgres = self._stack.enter_context(PostgresServer())
            self.redis = self._stack.enter_context(RedisServer())
            self.env.update(
                {
                    "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor",
                    "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres.create_database("dagflow_soak"),
                    "DAGFLOW__CELERY__BROKER_URL": self.redis.url,
                }
            )
        else:
            self.env["DAGFLOW__CORE__EXECUTOR"] = "LocalExecutor"
            self.env["DAGFLOW__CORE__PARALLELISM"] = "4"
        self.cli("db", "migrate")
        self.db = Database(load_settings(self.env))
        return self

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL of its session) and the servers; delete nothing of ``root``."""
        for proc in self.procs.values():
            proc.expected_exit = True
            if proc.popen.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGCONT)
                proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in self.procs.values():
            with suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(deadline - time.monotonic(), 0.1))
        for proc in self.procs.values():
            kill_session(proc.popen.pid)
            with suppress(subprocess.TimeoutExpired):
                proc.popen.wait(5)
        for pid in self.leftover_pids():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.db is not None:
            self.db.dispose()
        self._stack.close()

    # --- processes ------------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 120) -> str:
        """Run ``dagflow ARGS`` against this home; its stdout (``RuntimeError`` if it fails)."""
        done = subprocess.run(
            [sys.executable, "-m", "dagflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"dagflow {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-1500:]}")
        return done.stdout

    def start(self, name: str, *args: str) -> Process:
        """Start ``dagflow ARGS`` as ``name`` in its own session, output appended to ``name.log``."""
        with (self.root / f"{name}.log").open("ab") as log:
            popen = subprocess.Popen(
                [sys.executable, "-m", "dagflow", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs[name] = Process(name, args, popen)
        return self.procs[name]

    def start_all(self) -> None:
        """The DAG processor, the schedulers and (Celery) the workers, waited for until ready."""
        self.start("dag-processor", "dag-processor")
        schedulers = ("scheduler-1", "scheduler-2") if self.executor == "celery" else ("scheduler-1",)
        for name in schedulers:
            self.start(name, "scheduler")
        if self.executor == "celery":
            for name in ("worker-1", "worker-2"):
                self.start(name, "celery", "worker", "--concurrency", "3")
            for name in ("worker-1", "worker-2"):
                self.wait_ready(name)

    def wait_ready(self, name: str, mark: int = 0, seconds: float = 90) -> None:
        """Until Celery worker ``name`` prints its ready line past byte ``mark`` of its log."""
        deadline = time.monotonic() + seconds
        log = self.root / f"{name}.log"
        proc = self.procs[name]
        while time.monotonic() < deadline and proc.popen.poll() is None:
            if WORKER_READY.encode() in log.read_bytes()[mark:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {seconds}s: {self.log_tail(name)}")

    def restart(self, name: str) -> int:
        """Start process ``name`` again with the same arguments (after the soak killed it); its log's size before."""
        old = self.procs[name]
        log = self.root / f"{name}.log"
        mark = log.stat().st_size if log.exists() else 0
        self.start(name, *old.args)
        return mark

    def check_deaths(self) -> list[str]:
        """Processes that exited without the soak asking: recorded with their last log lines, and started again.

        Also called by the faults that kill a process, before they kill it: a process that
        had died by itself just before is counted, not hidden by the kill.
        """
        with self._deaths_lock:
            return self._check_deaths()

    def _check_deaths(self) -> list[str]:
        found = []
        for name, proc in list(self.procs.items()):
            if proc.popen.poll() is not None and not proc.expected_exit:
                last = [line for line in self.log_tail(name, 2000).splitlines() if line.strip()][-3:]
                found.append(f"{name} exited with {proc.popen.returncode}: {' / '.join(last)[-600:]}")
                self.restart(name)
        self.died.extend(found)
        return found

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of process ``name``'s output."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def leftover_pids(self) -> list[int]:
        """Live processes started with this soak's ``DAGFLOW_HOME``."""
        marker = f"DAGFLOW_HOME={self.home}".encode()
        found = []
        for proc in psutil.process_iter(["pid"]):
            try:
                environ = Path(f"/proc/{proc.pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ and proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        return found


def kill_session(leader: int, signum: int = signal.SIGKILL) -> list[int]:
    """Send ``signum`` to every process of ``leader``'s session (a machine that died or froze)."""
    victims = []
    for proc in psutil.process_iter(["pid"]):
        with suppress(OSError, psutil.Error):
            if os.getsid(proc.pid) == leader:
                victims.append(proc.pid)
    for pid in victims:
        with suppress(ProcessLookupError):
            os.kill(pid, signum)
    return victims


def descendants(pid: int) -> list[Any]:
    """The live descendants of ``pid`` (psutil processes)."""
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.Error:
        return []
