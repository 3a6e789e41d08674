"""The fault kinds and the seeded injector.

Each fault is a function of the deployment; the injector picks one kind at a time with
its own ``random.Random(seed)``, waits a random moment, injects it and logs one line
(``faults.log`` and the report): kind, target, when it began and when it was over (the
server back, the frozen worker continued, the killed process started again). Recovery
is measured from that end to the next task execution starting (the ledger).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from benchmarks.soak.deployment import Deployment, descendants, kill_session
from tests.servers import HOST

#: Kinds for each executor (the broker and server faults need the Celery deployment's servers).
COMMON_KINDS = ("kill_worker", "kill_task", "kill_scheduler", "kill_dag_processor", "sigstop_worker", "fill_log_fs")
CELERY_KINDS = (*COMMON_KINDS, "restart_redis", "restart_postgres", "drop_broker_connection")
#: Seconds PostgreSQL stays down in a fast restart, and Redis in a restart.
PG_DOWN_S = 2.0
REDIS_DOWN_S = 1.0
#: Seconds the log filesystem stays full.
LOG_FS_FULL_S = 5.0
#: Size of the tmpfs mounted on the log folder (the fill-the-log-filesystem fault).
LOG_FS_SIZE = "256m"


#: Seconds a fault waits for its target to exist (a LocalExecutor worker is forked on demand
#: and retires when idle; a task process lives only while a try runs) before it is skipped.
NO_TARGET_WAIT_S = 10.0


class NoTarget(RuntimeError):
    """Nothing to inject this fault into right now (no worker, no running task)."""


@dataclass
class Fault:
    """One injected fault."""

    kind: str
    target: str
    at: float
    over_at: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """For the JSON report."""
        return asdict(self)


class Injector:
    """Injects ``count`` faults, one at a time, at random moments ``gap_s`` apart, while ``busy()``."""

    def __init__(self, deployment: Deployment, *, seed: int, count: int, gap_s: tuple[float, float]) -> None:
        self.deployment = deployment
        self.rng = random.Random(seed)
        self.count = count
        self.gap_s = gap_s
        self.kinds = list(CELERY_KINDS if deployment.executor == "celery" else COMMON_KINDS)
        if not mount_log_fs(deployment.log_folder):
            self.kinds.remove("fill_log_fs")
        self.faults: list[Fault] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._log = (deployment.root / "faults.log").open("a")

    def start(self, busy: Callable[[], bool]) -> None:
        """Inject in a thread until ``count`` faults are done or ``busy()`` turns false."""
        self._thread = threading.Thread(target=self._run, args=(busy,), name="soak-faults", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop injecting; waits for a fault in progress to be over."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)
        finish_pending()
        if not self._log.closed:
            self._log.close()

    def _run(self, busy: Callable[[], bool]) -> None:
        # Every kind once before any twice (shuffled), so a short soak still covers them all.
        order: list[str] = []
        while len(order) < self.count:
            batch = list(self.kinds)
            self.rng.shuffle(batch)
            order.extend(batch)
        for kind in order[: self.count]:
            if self._stop.wait(self.rng.uniform(*self.gap_s)) or not busy():
                return
            try:
                fault = self._inject(kind, busy)
            except Exception as exc:  # a fault that could not be injected is reported, not fatal
                self.errors.append(f"{kind}: {exc}")
                continue
            self.faults.append(fault)
            self._log.write(
                f"{time.strftime('%H:%M:%S')} {fault.kind} {fault.target} {fault.over_at - fault.at:.1f}s {fault.note}\n"
            )
            self._log.flush()

    def _inject(self, kind: str, busy: Callable[[], bool]) -> Fault:
        """Inject one fault of ``kind``, waiting up to ``NO_TARGET_WAIT_S`` for a target to exist."""
        deadline = time.monotonic() + NO_TARGET_WAIT_S
        while True:
            try:
                return FAULTS[kind](self.deployment, self.rng)
            except NoTarget:
                if time.monotonic() >= deadline or not busy() or self._stop.wait(0.2):
                    raise


# --- the faults -------------------------------------------------------------------------------
def kill_worker(d: Deployment, rng: random.Random) -> Fault:
    """Celery: ``kill -9`` of a worker's whole session (its machine died), started again; local: one worker process."""
    at = time.time()
    if d.executor == "celery":
        name = rng.choice(["worker-1", "worker-2"])
        d.check_deaths()
        d.procs[name].expected_exit = True
        victims = kill_session(d.procs[name].popen.pid)
        d.procs[name].popen.wait(10)
        d.wait_ready(name, d.restart(name))
        return Fault("kill_worker", name, at, time.time(), f"{len(victims)} processes")
    workers = descendants_of_scheduler(d, depth=1)
    if not workers:
        raise NoTarget("no local worker process to kill")
    victim = rng.choice(workers)
    os.kill(victim.pid, signal.SIGKILL)
    return Fault("kill_worker", f"local worker {victim.pid}", at, time.time())


def kill_task(d: Deployment, rng: random.Random) -> Fault:
    """``kill -9`` of a running task process (the OOM killer): one that started and has not ended."""
    running = running_task_pids(d.ledger)
    if not running:
        raise NoTarget("no task process running")
    pid, key = rng.choice(sorted(running.items()))
    at = time.time()
    os.kill(pid, signal.SIGKILL)
    return Fault("kill_task", key, at, at, f"pid {pid}")


def kill_scheduler(d: Deployment, rng: random.Random) -> Fault:
    """``kill -9`` of a scheduler process (only it: its local workers finish and exit), started again."""
    name = rng.choice([n for n in d.procs if n.startswith("scheduler")])
    return _kill_and_restart(d, name, "kill_scheduler")


def kill_dag_processor(d: Deployment, rng: random.Random) -> Fault:
    """``kill -9`` of the DAG processor, started again."""
    return _kill_and_restart(d, "dag-processor", "kill_dag_processor")


def _kill_and_restart(d: Deployment, name: str, kind: str) -> Fault:
    d.check_deaths()
    proc = d.procs[name]
    proc.expected_exit = True
    at = time.time()
    os.kill(proc.popen.pid, signal.SIGKILL)
    proc.popen.wait(10)
    time.sleep(1.0)
    d.restart(name)
    return Fault(kind, name, at, time.time())


def sigstop_worker(d: Deployment, rng: random.Random) -> Fault:
    """Freeze a worker (its whole session; local: one worker and its task) past the heartbeat timeout, then SIGCONT.

    The fault is over (``over_at``) when SIGCONT is sent, by a timer: the injector goes on meanwhile.
    """
    frozen_for = float(d.env["DAGFLOW__SCHEDULER__HEARTBEAT_TIMEOUT"]) + 2.0
    at = time.time()
    if d.executor == "celery":
        name = rng.choice(["worker-1", "worker-2"])
        leader = d.procs[name].popen.pid
        kill_session(leader, signal.SIGSTOP)
        fault = Fault("sigstop_worker", name, at, at, f"frozen {frozen_for:.0f}s")
        _later(fault, frozen_for, lambda: kill_session(leader, signal.SIGCONT))
        return fault
    workers = descendants_of_scheduler(d, depth=1)
    if not workers:
        raise NoTarget("no local worker process to freeze")
    victim = rng.choice(workers)
    group = [victim, *descendants(victim.pid)]
    _signal_all(group, signal.SIGSTOP)
    fault = Fault("sigstop_worker", f"local worker {victim.pid}", at, at, f"frozen {frozen_for:.0f}s")
    _later(fault, frozen_for, lambda: _signal_all(group, signal.SIGCONT))
    return fault


def _signal_all(procs: list[Any], signum: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(signum)


#: Timers that end faults which last a while (SIGCONT, freeing the log filesystem).
PENDING: list[threading.Timer] = []


def _later(fault: Fault, seconds: float, action: Callable[[], object]) -> None:
    """Run ``action`` in ``seconds``; the fault is over then."""

    def end() -> None:
        action()
        fault.over_at = time.time()

    timer = threading.Timer(seconds, end)
    timer.daemon = True
    timer.start()
    PENDING.append(timer)


def finish_pending() -> None:
    """End every fault still in progress now (SIGCONT sent, space freed)."""
    while PENDING:
        timer = PENDING.pop()
        if timer.is_alive():
            timer.cancel()
            timer.function()
        timer.join(10)


def restart_redis(d: Deployment, rng: random.Random) -> Fault:
    """Redis stopped (its memory lost, as ``shutdown nosave``) and started again."""
    assert d.redis is not None
    at = time.time()
    try:
        d.redis.stop()
        time.sleep(REDIS_DOWN_S)
    finally:
        d.redis.start()
    return Fault("restart_redis", "redis", at, time.time())


def restart_postgres(d: Deployment, rng: random.Random) -> Fault:
    """PostgreSQL fast shutdown, away a moment, started again."""
    assert d.postgres is not None
    at = time.time()
    try:
        d.postgres.stop()
        time.sleep(PG_DOWN_S)
    finally:
        d.postgres.start()
    return Fault("restart_postgres", "postgres", at, time.time())


def drop_broker_connection(d: Deployment, rng: random.Random) -> Fault:
    """Every client connection to Redis dropped (``CLIENT KILL TYPE normal``/``pubsub``); Redis keeps running."""
    assert d.redis is not None
    at = time.time()
    for kind in ("normal", "pubsub"):
        subprocess.run(
            ["redis-cli", "-h", HOST, "-p", str(d.redis.port), "CLIENT", "KILL", "TYPE", kind],
            capture_output=True,
            timeout=10,
            check=False,
        )
    return Fault("drop_broker_connection", "redis clients", at, time.time())


def fill_log_fs(d: Deployment, rng: random.Random) -> Fault:
    """The log folder's filesystem (a tmpfs of the soak's own) full for a while, then freed (by a timer)."""
    filler = d.log_folder / "soak-filler.bin"
    at = time.time()
    with filler.open("wb") as fh, contextlib.suppress(OSError):
        chunk = b"\0" * (1 << 20)
        while True:
            fh.write(chunk)
    fault = Fault("fill_log_fs", str(d.log_folder), at, at, f"full {LOG_FS_FULL_S:.0f}s")
    _later(fault, LOG_FS_FULL_S, lambda: filler.unlink(missing_ok=True))
    return fault


FAULTS: dict[str, Callable[[Deployment, random.Random], Fault]] = {
    f.__name__: f
    for f in (
        kill_worker,
        kill_task,
        kill_scheduler,
        kill_dag_processor,
        sigstop_worker,
        restart_redis,
        restart_postgres,
        drop_broker_connection,
        fill_log_fs,
    )
}


# --- helpers ----------------------------------------------------------------------------------
def descendants_of_scheduler(d: Deployment, *, depth: int) -> list[Any]:
    """The LocalExecutor's worker processes: direct children of the running schedulers."""
    found = []
    for name, proc in d.procs.items():
        if name.startswith("scheduler") and proc.popen.poll() is None:
            with contextlib.suppress(psutil.Error):
                found += [c for c in psutil.Process(proc.popen.pid).children() if c.status() != psutil.STATUS_ZOMBIE]
    return found


def running_task_pids(ledger: Path) -> dict[int, str]:
    """pid -> task instance key of executions that started, have not ended, and whose process lives."""
    if not ledger.exists():
        return {}
    open_: dict[tuple[str, ...], int] = {}
    for line in ledger.read_text().splitlines()[-2000:]:
        parts = line.split()
        if len(parts) < 9 or parts[0] == "poke":
            continue
        key = tuple(parts[1:6])
        if parts[0] == "start":
            open_[key] = int(parts[6])
        else:
            open_.pop(key, None)
    return {pid: " ".join(key) for key, pid in open_.items() if psutil.pid_exists(pid)}


def mount_log_fs(folder: Path) -> bool:
    """A small tmpfs of the soak's own on ``folder`` (root only); False if it cannot be mounted here."""
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={LOG_FS_SIZE}", "tmpfs", str(folder)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    return done.returncode == 0


def unmount_log_fs(folder: Path) -> None:
    """Undo ``mount_log_fs`` (lazy: a process still holding a file does not block it)."""
    subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=10, check=False)
