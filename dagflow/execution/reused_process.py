"""A task process that runs several tries of one DAG file, one after another.

Forking a warm worker (~60 MB) for every try, and the copy-on-write faults that follow
in both processes, was the largest CPU cost of a short try. With
``core.max_tries_per_child`` above 1 a worker keeps the task process it forked for a
DAG file and hands it the next try of the same file version (Celery's prefork model);
1 forks a fresh process for every try, as before.

Isolation is kept by checks, not trust. The worker still supervises each try (heartbeat,
hard timeout, kill from the UI, log capture per try); anything that kills the task
process ends its reuse. Between tries the task process restores the environment
variables, the working directory and ``sys.path`` it had before the try, and it exits
instead of taking another try when the try did not succeed, left a thread running,
rebound or resized a global of a DAG file module, grew past
``core.max_memory_per_child_mb``, or reached ``max_tries_per_child``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagflow.execution.channel import ResultChannel
from dagflow.execution.dag_cache import DAG_MODULE_NAMES
from dagflow.execution.log_masking import MaskedLogPipe
from dagflow.secrets.masker import SecretsMasker
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from dagflow.execution.dag_cache import DagCache
    from dagflow.execution.outcome import TryResult
    from dagflow.execution.supervisor import ChildExit
    from dagflow.execution.task_process import TryAttempt

log = logging.getLogger("dagflow.task")

#: Outcomes after which a task process may take another try (anything else: a fresh one).
REUSABLE_AFTER = frozenset({TaskInstanceState.SUCCESS, TaskInstanceState.SKIPPED})


def reuse_enabled(attempt: TryAttempt) -> bool:
    """True if tries may share a task process (``core.max_tries_per_child`` is not 1)."""
    return attempt.settings.core.max_tries_per_child != 1


# --- the worker's side ------------------------------------------------------------------


@dataclass
class TaskProcess:
    """A forked task process, as its worker sees it."""

    pid: int
    channel: ResultChannel
    #: The DAG object it was forked with (held, so its id is never reused by another).
    dag: Any
    reusable: bool


class TaskProcessSlot:
    """The one idle task process a worker keeps for the next try of the same DAG file."""

    def __init__(self) -> None:
        self.idle: TaskProcess | None = None
        self._retired: list[int] = []

    def take(self, attempt: TryAttempt) -> TaskProcess | None:
        """The idle task process, handed ``attempt``; None if there is none that can run it."""
        self._retired = _reap(self._retired)
        process, self.idle = self.idle, None
        if process is None:
            return None
        if process.dag is not attempt.dag or not _alive(process.pid):
            self._retire(process)
            return None
        return process

    def hand(self, process: TaskProcess, attempt: TryAttempt, output: MaskedLogPipe) -> bool:
        """Send ``attempt`` to ``process``; False (and the process retired) if it is gone."""
        try:
            process.channel.send_try(_encode(attempt), list(output.fds()))
        except OSError:
            self._retire(process)
            return False
        return True

    def done(self, process: TaskProcess, ended: ChildExit | None) -> None:
        """After a try: keep the process if it said it is idle, else make sure it is gone."""
        if ended is not None and ended.idle:
            self.idle = process
        else:
            self._retire(process)

    def retire(self) -> None:
        """Stop the idle task process (the worker is about to exit)."""
        process, self.idle = self.idle, None
        if process is not None:
            self._retire(process)

    def _retire(self, process: TaskProcess) -> None:
        if _retire(process):
            self._retired.append(process.pid)


def _alive(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return False


def _retire(process: TaskProcess) -> bool:
    """Close the channel and SIGKILL a live process's group (an idle process has nothing to
    lose); True if it must still be reaped.

    Not waited for here (on a busy host a killed process can take seconds to be torn
    down): ``TaskProcessSlot`` reaps it later without blocking, or the worker's exit does.
    """
    process.channel.close()
    try:
        if os.waitpid(process.pid, os.WNOHANG) != (0, 0):
            return False  # it had exited: reaped now
    except ChildProcessError:
        return False  # reaped already (the supervisor saw it exit)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return True


def _reap(pids: list[int]) -> list[int]:
    """The pids of ``pids`` not reaped yet (``waitpid`` without blocking)."""
    left = []
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                left.append(pid)
        except ChildProcessError:
            continue
    return left


def _encode(attempt: TryAttempt) -> bytes:
    order = {
        "claimed": attempt.claimed,
        "fileloc": attempt.dag.fileloc,
        "task_id": attempt.task.task_id,
        "log_path": str(attempt.log_path),
        "timeout_s": attempt.timeout_s,
        "test_mode": attempt.test_mode,
        "secrets": attempt.masker.known_values(),
    }
    return pickle.dumps(order, protocol=pickle.HIGHEST_PROTOCOL)


# --- the task process's side --------------------------------------------------------------


def next_attempt(
    channel: ResultChannel, previous: TryAttempt, cache: DagCache
) -> tuple[TryAttempt, MaskedLogPipe] | None:
    """In a reused task process: wait for the next try; None when the worker retires us."""
    received = channel.receive_try()
    if received is None:
        return None
    data, fds = received
    order = pickle.loads(data)  # from our own worker, over a private socketpair
    claimed = order["claimed"]
    dag = cache.get_dag(order["fileloc"], claimed.dag_id)
    masker = SecretsMasker(previous.settings.core.sensitive_var_conn_names)
    masker.add(order["secrets"])
    attempt = dataclasses.replace(
        previous,
        claimed=claimed,
        dag=dag,
        task=dag.get_task(order["task_id"]),
        log_path=Path(order["log_path"]),
        timeout_s=order["timeout_s"],
        test_mode=order["test_mode"],
        masker=masker,
    )
    return attempt, MaskedLogPipe.from_fds(attempt.log_path, masker, fds[0], fds[1])


class ReuseGuard:
    """In a reused task process: what a try changed, undone or refused before the next try."""

    def __init__(self, max_tries: int, max_memory_mb: int) -> None:
        self.max_tries = max_tries
        self.max_memory_mb = max_memory_mb
        self.tries = 0
        self._environ: dict[str, str] = {}
        self._cwd = ""
        self._path: list[str] = []
        self._threads = 0
        self._globals: dict[str, dict[str, tuple[int, int]]] = {}

    def before_try(self) -> None:
        """Remember the state a try must leave as it found it."""
        self._environ = dict(os.environ)
        self._cwd = os.getcwd()
        self._path = list(sys.path)
        self._threads = threading.active_count()
        self._globals = dag_module_globals()

    def after_try(self, result: TryResult | None) -> str | None:
        """Restore what can be restored; why this process must not run another try, or None."""
        self.tries += 1
        try:
            self._restore()
        except OSError as exc:  # the old working directory is gone
            return f"cannot restore the working directory: {exc.strerror or exc}"
        if result is None or result.state not in REUSABLE_AFTER:
            return "the try did not succeed"
        if self.max_tries > 0 and self.tries >= self.max_tries:
            return f"it ran {self.tries} tries (core.max_tries_per_child)"
        leak = self._leak()
        if leak is not None:
            log.info("this task process runs no further try: %s", leak)
        return leak

    def _leak(self) -> str | None:
        """What the try left behind that could reach the next try, if anything."""
        if threading.active_count() > self._threads:
            return "the try left a thread running"
        if dag_module_globals() != self._globals:
            return "the try changed a global of a DAG file module"
        used = rss_mb()
        if used > self.max_memory_mb:
            return f"it uses {used:.0f} MB (core.max_memory_per_child_mb is {self.max_memory_mb})"
        return None

    def _restore(self) -> None:
        if os.environ != self._environ:
            os.environ.clear()
            os.environ.update(self._environ)
        try:
            moved = os.getcwd() != self._cwd
        except OSError:  # the try's working directory was removed
            moved = True
        if moved:
            os.chdir(self._cwd)
        if sys.path != self._path:
            sys.path[:] = self._path


def dag_module_globals() -> dict[str, dict[str, tuple[int, int]]]:
    """Each DAG file module's globals as (identity, size): a rebound or resized global shows."""
    found: dict[str, dict[str, tuple[int, int]]] = {}
    # Only the modules ``DagCache`` imported: walking ``sys.modules`` (~1 000 modules) wrote
    # the reference count of every module object and name, copying ~2.5 MB of pages shared
    # with the worker into a reused task process on its first try.
    for name in sorted(DAG_MODULE_NAMES):
        module = sys.modules.get(name)
        if module is not None:
            found[name] = {
                key: (id(value), _size(value)) for key, value in vars(module).items() if not key.startswith("__")
            }
    return found


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (list, dict, set, bytearray)) else -1


def rss_mb() -> float:
    """This process's resident memory in MB."""
    with open("/proc/self/statm", "rb") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
