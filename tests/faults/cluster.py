"""A real dagflow deployment in subprocesses, for fault tests.

``Cluster`` owns one ``DAGFLOW_HOME``, one DAG folder and one metadata database (the
home's SQLite file or a PostgreSQL URL). It starts real ``dagflow scheduler`` and
``dagflow celery worker`` processes (each in its own session, so a test can ``kill -9``
one of them), drives them through the real CLI, and reads the truth from the database.

Every task in a fault DAG records its own execution: ``record("start")`` and
``record("done")`` append one line each (``O_APPEND``, one ``write``) to
``executions.log``. ``Cluster.check_exactly_once`` then proves the fault test's
claim: every task instance finished in a final state, and each one's ``done`` line
appears exactly once, for the try the database says succeeded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.models import DagRun, Job, SerializedDagModel, TaskInstance, TaskInstanceHistory
from tests.servers import ThrowawayServer

#: Prepended to every fault DAG file: imports and the ``record`` function.
DAG_HEADER = '''
import os, subprocess, time
from datetime import datetime, timedelta
from dagflow import DAG, task
from dagflow.operators import PythonOperator

OUT_DIR = OUT_DIR_PATH
EXECUTIONS = os.path.join(OUT_DIR, "executions.log")


def record(event, ti):
    """Append ``event dag run task map_index try pid sid`` to the executions log (atomic append).

    ``sid`` is the session of the process that ran it: the pid of the scheduler or
    Celery worker the test started.
    """
    line = (f"{event} {ti.dag_id} {ti.run_id} {ti.task_id} {ti.map_index} {ti.try_number} {os.getpid()} "
            f"{os.getsid(0)}\\n")
    fd = os.open(EXECUTIONS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def write_pid(name, pid):
    """Leave ``pid`` in ``OUT_DIR/name.pid`` for the test to find."""
    with open(os.path.join(OUT_DIR, name + ".pid.tmp"), "w") as fh:
        fh.write(str(pid))
    os.replace(os.path.join(OUT_DIR, name + ".pid.tmp"), os.path.join(OUT_DIR, name + ".pid"))
'''

#: Settings that make every timeout of a fault test a matter of seconds.
FAST_SETTINGS = {
    "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    "DAGFLOW__CORE__KILLED_TASK_CLEANUP_TIME": "2",
    "DAGFLOW__SCHEDULER__POLL_INTERVAL": "0.3",
    "DAGFLOW__SCHEDULER__HEARTBEAT_INTERVAL": "0.5",
    # Well above the seconds a loaded 2-core machine can stall a worker's DB write (SQLite
    # under a busy scheduler): a shorter timeout reaps live tries. Tests of lost workers
    # set ``WORKER_LOST_AFTER``.
    "DAGFLOW__SCHEDULER__HEARTBEAT_TIMEOUT": "30",
    "DAGFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "10",
    "DAGFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "600",
    "DAGFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL": "600",
    "DAGFLOW__LOGGING__LEVEL": "INFO",
}


def celery_settings(broker_url: str) -> dict[str, str]:
    """Environment for a cluster on the CeleryExecutor with ``broker_url``."""
    return {
        "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "DAGFLOW__CELERY__BROKER_URL": broker_url,
        "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",
        "DAGFLOW__CELERY__WORKER_SHUTDOWN_GRACE": "5",
    }


#: What ``dagflow celery worker`` prints once it consumes its queues.
WORKER_READY = "celery worker ready:"
#: ``heartbeat_timeout`` of the tests that kill workers: reaped within seconds.
WORKER_LOST_AFTER = {"DAGFLOW__SCHEDULER__HEARTBEAT_TIMEOUT": "6"}
FINAL_TI = {"success", "failed", "skipped", "upstream_failed", "removed"}
FINAL_RUN = {"success", "failed"}


@dataclass(frozen=True)
class Execution:
    """One line of the executions log."""

    event: str
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    pid: int
    sid: int

    @property
    def key(self) -> tuple[str, str, str, int]:
        """The task instance it belongs to."""
        return (self.dag_id, self.run_id, self.task_id, self.map_index)


class Cluster:
    """One DAGFLOW_HOME + DAG folder + metadata DB, and the dagflow processes running on them."""

    def __init__(
        self, root: Path, dag_source: str, *, db_url: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.home, self.dags = root / "home", root / "dags"
        for folder in (self.home, self.dags):
            folder.mkdir(parents=True, exist_ok=True)
        self.executions_path = root / "executions.log"
        source = DAG_HEADER.replace("OUT_DIR_PATH", repr(str(root)))
        (self.dags / "fault_dags.py").write_text(source + textwrap.dedent(dag_source))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DAGFLOW__")}
        self.env.update(FAST_SETTINGS)
        self.env.update({"DAGFLOW_HOME": str(self.home), "DAGFLOW__CORE__DAGS_FOLDER": str(self.dags)})
        if db_url is not None:
            self.env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
        self.env.update(env or {})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ok("db", "migrate")
        self.db = Database(load_settings(self.env))

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        leftovers = self.close()
        if exc_type is None:
            assert not leftovers, f"processes left behind: {leftovers}"

    # --- the real CLI ---------------------------------------------------------------------
    def cli(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Run ``dagflow ARGS`` against this home."""
        return subprocess.run(
            [sys.executable, "-m", "dagflow", *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def ok(self, *args: str) -> str:
        """Run ``dagflow ARGS``, require exit 0; its stdout."""
        done = self.cli(*args)
        assert done.returncode == 0, f"dagflow {' '.join(args)}: {done.stderr[-2000:]}"
        return done.stdout

    # --- processes ------------------------------------------------------------------------
    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start ``dagflow ARGS`` as process ``name`` (own session; output in ``name.log``)."""
        assert name not in self.procs or self.procs[name].poll() is not None, f"{name} is running"
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagflow", *args],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        return proc

    def start_scheduler(self, name: str = "scheduler") -> subprocess.Popen[bytes]:
        """A ``dagflow scheduler`` process."""
        return self.start(name, "scheduler")

    def start_celery_worker(self, name: str, *, concurrency: int = 2, seconds: float = 90) -> subprocess.Popen[bytes]:
        """A ready ``dagflow celery worker`` process (waited for until it prints its ready line)."""
        proc = self.start(name, "celery", "worker", "--concurrency", str(concurrency))
        wait_for(
            lambda: WORKER_READY in self.log_tail(name, 1 << 20) or proc.poll() is not None,
            f"celery worker {name} ready",
            seconds,
            describe=lambda: self.log_tail(name),
        )
        assert proc.poll() is None, f"celery worker {name} exited: {self.log_tail(name)}"
        return proc

    def kill9(self, name: str) -> None:
        """``kill -9`` process ``name`` (only that process, not its children) and reap it."""
        proc = self.procs[name]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def kill9_session(self, name: str) -> list[int]:
        """``kill -9`` process ``name`` and every process of its session (a machine that died)."""
        proc = self.procs[name]
        victims = [pid for pid in _live_pids() if _session_of(pid) == proc.pid]
        for pid in victims:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait(10)
        return victims

    def kill9_pid(self, pid: int) -> None:
        """``kill -9`` any process of this cluster by pid (a worker, a task process)."""
        os.kill(pid, signal.SIGKILL)

    def stop(self, name: str, timeout: float = 40) -> int:
        """SIGTERM process ``name`` and wait; SIGKILL its session if it does not exit."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc.pid)
                proc.wait(10)
                raise AssertionError(f"{name} did not stop within {timeout}s: {self.log_tail(name)}") from None
        return proc.returncode

    def log_tail(self, name: str, chars: int = 3000) -> str:
        """The end of process ``name``'s output."""
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def close(self) -> list[int]:
        """Stop every process (SIGTERM, then SIGKILL), kill leftovers; the pids that were left over."""
        for name, proc in self.procs.items():
            if proc.poll() is None:
                with suppress(AssertionError):
                    self.stop(name, timeout=20)
        leftovers = self.leftover_pids()
        for pid in leftovers:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.db.dispose()
        return leftovers

    def leftover_pids(self) -> list[int]:
        """Live processes (not zombies) started with this cluster's DAGFLOW_HOME."""
        marker = f"DAGFLOW_HOME={self.home}".encode()
        found = []
        for pid in _live_pids():
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marker in environ and pid != os.getpid():
                found.append(pid)
        return found

    # --- DAGs and runs --------------------------------------------------------------------
    def wait_parsed(self, *dag_ids: str, seconds: float = 60) -> None:
        """Until the scheduler's DAG parsing stored every one of ``dag_ids``."""

        def parsed() -> bool:
            with self.db.transaction(readonly=True) as session:
                stored = set(session.scalars(sa.select(SerializedDagModel.dag_id)))
            return set(dag_ids) <= stored

        wait_for(parsed, f"{dag_ids} parsed", seconds, describe=lambda: self.log_tail("scheduler"))

    def trigger(self, dag_id: str, *run_ids: str) -> None:
        """Unpause ``dag_id`` and trigger one run per run id (through the CLI)."""
        self.ok("dags", "unpause", dag_id)
        for run_id in run_ids:
            self.ok("dags", "trigger", dag_id, "--run-id", run_id)

    def run_states(self, dag_id: str) -> dict[str, str]:
        """run_id -> state of every run of ``dag_id``."""
        with self.db.transaction(readonly=True) as session:
            rows = session.execute(sa.select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id))
            return {run_id: state.value for run_id, state in rows}

    def wait_runs_finished(self, dag_id: str, run_ids: list[str], seconds: float = 120) -> dict[str, str]:
        """Until every run in ``run_ids`` is success or failed; run_id -> state."""
        states: dict[str, str] = {}

        def finished() -> bool:
            nonlocal states
            states = self.run_states(dag_id)
            return all(states.get(r) in FINAL_RUN for r in run_ids)

        wait_for(
            finished,
            f"runs {run_ids} of {dag_id} finished",
            seconds,
            describe=lambda: (states, self.ti_state_counts(dag_id)),
        )
        return states

    def running_scheduler_pids(self) -> list[int]:
        """Pids of the scheduler jobs that are ``running`` and alive on this host."""
        with self.db.transaction(readonly=True) as session:
            pids = session.scalars(sa.select(Job.pid).where(Job.job_type == "scheduler", Job.state == "running"))
            return [pid for pid in pids if pid is not None and pid_alive(pid)]

    def task_instances(self, dag_id: str) -> list[TaskInstance]:
        """Every task instance of ``dag_id`` (detached rows)."""
        with self.db.transaction(readonly=True) as session:
            rows = list(session.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == dag_id)))
            session.expunge_all()
        return rows

    def ti_state_counts(self, dag_id: str) -> dict[str, int]:
        """state -> how many task instances of ``dag_id`` are in it."""
        with self.db.transaction(readonly=True) as session:
            rows = session.execute(
                sa.select(TaskInstance.state, sa.func.count())
                .where(TaskInstance.dag_id == dag_id)
                .group_by(TaskInstance.state)
            )
            return {(state.value if state else "none"): count for state, count in rows}

    def history(self, dag_id: str) -> list[TaskInstanceHistory]:
        """The try history rows of ``dag_id``, oldest first."""
        with self.db.transaction(readonly=True) as session:
            rows = list(
                session.scalars(
                    sa.select(TaskInstanceHistory)
                    .where(TaskInstanceHistory.dag_id == dag_id)
                    .order_by(TaskInstanceHistory.id)
                )
            )
            session.expunge_all()
        return rows

    def ti(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> TaskInstance:
        """One task instance (detached)."""
        with self.db.transaction(readonly=True) as session:
            ti = session.scalars(
                sa.select(TaskInstance).where(
                    TaskInstance.dag_id == dag_id,
                    TaskInstance.run_id == run_id,
                    TaskInstance.task_id == task_id,
                    TaskInstance.map_index == map_index,
                )
            ).one()
            session.expunge(ti)
        return ti

    # --- what the tasks recorded ----------------------------------------------------------
    def executions(self, event: str | None = None) -> list[Execution]:
        """The executions log, optionally only lines of ``event``."""
        if not self.executions_path.exists():
            return []
        found = []
        for line in self.executions_path.read_text().splitlines():
            kind, dag_id, run_id, task_id, map_index, try_number, pid, sid = line.split()
            if event is None or kind == event:
                found.append(
                    Execution(kind, dag_id, run_id, task_id, int(map_index), int(try_number), int(pid), int(sid))
                )
        return found

    def wait_started(self, dag_id: str, task_id: str, count: int = 1, seconds: float = 60) -> list[Execution]:
        """Until ``count`` tries of ``task_id`` recorded ``start``; those lines."""
        found: list[Execution] = []

        def started() -> bool:
            nonlocal found
            found = [e for e in self.executions("start") if e.dag_id == dag_id and e.task_id == task_id]
            return len(found) >= count

        wait_for(
            started,
            f"{count} start(s) of {dag_id}.{task_id}",
            seconds,
            describe=lambda: (self.ti_state_counts(dag_id), self.log_tail("scheduler")),
        )
        return found

    def wait_pid(self, name: str, seconds: float = 60) -> int:
        """Until a task left ``name.pid`` (see ``write_pid``); the pid."""
        path = self.root / f"{name}.pid"
        wait_for(path.exists, f"{path.name}", seconds)
        return int(path.read_text())

    def check_exactly_once(
        self, dag_id: str, *, expected_tis: int | None = None, states: frozenset[str] = frozenset({"success"})
    ) -> list[TaskInstance]:
        """No task instance lost, doubled or left unfinished; returns them.

        Every task instance is final and in ``states``; every successful one recorded
        ``done`` exactly once, for the try the database says succeeded; no task
        instance recorded ``done`` twice.
        """
        tis = self.task_instances(dag_id)
        if expected_tis is not None:
            assert len(tis) == expected_tis, f"{len(tis)} task instances, expected {expected_tis}"
        not_final = [(t.task_id, t.map_index, t.state.value) for t in tis if t.state.value not in FINAL_TI]
        assert not not_final, f"task instances left unfinished: {not_final[:20]}"
        unexpected = Counter(t.state.value for t in tis if t.state.value not in states)
        assert not unexpected, f"task instances in unexpected states: {dict(unexpected)}"
        done = [e for e in self.executions("done") if e.dag_id == dag_id]
        doubled = [key for key, n in Counter(e.key for e in done).items() if n > 1]
        assert not doubled, f"task instances that completed twice: {doubled[:20]}"
        done_try = {e.key: e.try_number for e in done}
        for ti in tis:
            key = (ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
            if ti.state.value == "success":
                assert key in done_try, f"{key} is success but never recorded done"
                assert done_try[key] == ti.try_number, f"{key}: done in try {done_try[key]}, DB says {ti.try_number}"
        return tis


def wait_for(
    condition: Callable[[], bool],
    what: str,
    seconds: float = 60,
    describe: Callable[[], object] | None = None,
    interval: float = 0.25,
) -> None:
    """Poll ``condition`` until true; fail after ``seconds`` with ``describe()``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}: {describe() if describe else ''}")


def outage(server: ThrowawayServer, down_s: float) -> float:
    """Stop ``server`` (fast shutdown), wait ``down_s``, start it again on its port; seconds it was away.

    Only a throwaway server of the test's own (``tests/servers.py``), never the machine's
    shared PostgreSQL or Redis. Always started again (``finally``); ``start()`` returns once
    it accepts connections.
    """
    started = time.monotonic()
    try:
        server.stop()
        time.sleep(down_s)
    finally:
        server.start()
    return time.monotonic() - started


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _live_pids() -> list[int]:
    """Every process that is not a zombie."""
    return [int(entry) for entry in filter(str.isdigit, os.listdir("/proc")) if pid_alive(int(entry))]


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
