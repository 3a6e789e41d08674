"""The parse server: a small process that forks parsing workers and polices them.

Started by ``ParsePool`` as ``python -m dagflow.dag_processing.parse_server FD N T M TZ
FILES ROOTS`` with one end of a socket pair (TZ: ``core.default_timezone``, the zone of
naive DAG dates; FILES: ``scheduler.parsing_files_per_process``; ROOTS: the DAG folders
as JSON). It imports dagflow and the SDK once, opens no database connection and runs a
single thread, so forking it is safe and the cheapest way to get a warm, isolated
interpreter (about a millisecond, against ~250 ms for a spawned interpreter that
re-imports dagflow; ``multiprocessing``'s forkserver would also re-run the parent's
``__main__`` script in every child on Python 3.11).

Each worker (``parse_child.run_worker``) parses up to FILES files one after the other,
so a pass does not pay a fork, its page faults and an exit per file; what one file
loads from the DAG folders is dropped before the next (see ``parse_child``). FILES = 1
gives every file a fresh process.

Protocol (``multiprocessing.connection`` messages): the parent sends
``("parse", path)`` or ``("stop",)``; the server answers ``("result", path, document)``
where ``document`` is what ``parse_child.parse_file`` returns, or an error document
when the worker timed out, was killed or died on that file. At most N workers run at
once; a worker still busy with one file ``T`` seconds (+ a short grace for the soft
timeout to land) after it got it is killed with its whole process group, and only
that file fails. End of file on the socket (the parent died) kills the workers and
ends the server.
"""

from __future__ import annotations

import gc
import json
import math
import os
import selectors
import signal
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import dagflow.operators
import dagflow.sensors  # noqa: F401
from dagflow.dag_processing.parse_child import FRAME, run_worker, warm_up
from dagflow.sdk.task_defaults import set_default_task_retries
from dagflow.sdk.timezone import set_default_timezone

#: Extra seconds after the soft timeout before the hard kill (the soft one names the line).
KILL_GRACE_S = 1.0


@dataclass
class _Worker:
    pid: int
    to_fd: int
    from_fd: int
    path: str | None = None
    deadline: float = math.inf
    started: float = 0.0
    retiring: bool = False
    data: bytearray = field(default_factory=bytearray)


class ParseServer:
    """Hand requested files to at most ``processes`` workers, one file per worker at a time."""

    def __init__(
        self,
        conn: Connection,
        *,
        processes: int,
        timeout: float,
        memory_limit_mb: int,
        files_per_process: int = 1,
        roots: Sequence[str] = (),
    ) -> None:
        """Serve requests arriving on ``conn``."""
        self.conn = conn
        self.processes = max(1, processes)
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self.files_per_process = max(1, files_per_process)
        self.roots = list(roots)
        self.queue: deque[str] = deque()
        self.workers: dict[int, _Worker] = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(conn.fileno(), selectors.EVENT_READ, None)
        self.running = True

    def serve(self) -> None:
        """Loop until told to stop or the parent goes away."""
        try:
            while self.running:
                self._assign()
                for key, _ in self.selector.select(self._wait_time()):
                    if key.data is None:
                        self._receive()
                    elif key.data.pid in self.workers:
                        self._read_worker(key.data)
                self._kill_overdue()
        finally:
            for worker in list(self.workers.values()):
                self._end(worker, error="parse server stopped")

    def _wait_time(self) -> float | None:
        deadline = min((w.deadline for w in self.workers.values()), default=math.inf)
        return None if deadline == math.inf else max(0.0, deadline - time.monotonic())

    def _receive(self) -> None:
        try:
            while self.running and self.conn.poll(0):
                message = self.conn.recv()
                if message[0] == "parse":
                    self.queue.append(message[1])
                else:
                    self.running = False
        except (EOFError, OSError):
            self.running = False

    def _assign(self) -> None:
        """Give queued files to idle workers, forking new ones up to ``processes``."""
        while self.queue:
            worker = next((w for w in self.workers.values() if w.path is None and not w.retiring), None)
            if worker is None:
                if len(self.workers) >= self.processes:
                    return
                worker = self._fork()
            path = self.queue.popleft()
            worker.path, worker.data = path, bytearray()
            worker.started = time.monotonic()
            worker.deadline = worker.started + self.timeout + KILL_GRACE_S
            try:
                _write_all(worker.to_fd, path.encode() + b"\n")
            except OSError:
                self._end(worker)  # died between files: its exit status names the cause

    def _fork(self) -> _Worker:
        request_read, request_write = os.pipe()
        result_read, result_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            for fd in (request_write, result_read, self.conn.fileno()):
                os.close(fd)
            for other in self.workers.values():
                os.close(other.to_fd)
                os.close(other.from_fd)
            run_worker(
                request_read,
                result_write,
                timeout=self.timeout,
                memory_limit_mb=self.memory_limit_mb,
                roots=self.roots,
                max_files=self.files_per_process,
            )
        os.close(request_read)
        os.close(result_write)
        worker = _Worker(pid, request_write, result_read)
        self.workers[pid] = worker
        self.selector.register(result_read, selectors.EVENT_READ, worker)
        return worker

    def _read_worker(self, worker: _Worker) -> None:
        chunk = os.read(worker.from_fd, 1 << 16)
        if not chunk:
            self._end(worker)
            return
        worker.data += chunk
        while len(worker.data) >= FRAME.size:
            (size,) = FRAME.unpack_from(worker.data)
            if len(worker.data) < FRAME.size + size:
                return
            payload = bytes(worker.data[FRAME.size : FRAME.size + size])
            del worker.data[: FRAME.size + size]
            self._deliver(worker, payload)

    def _deliver(self, worker: _Worker, payload: bytes) -> None:
        path, worker.path, worker.deadline = worker.path, None, math.inf
        if path is None:
            return
        try:
            document: dict[str, Any] = json.loads(payload)
        except ValueError:
            document = _error(path, "the parsing process sent an unreadable result")
        worker.retiring = bool(document.pop("recycle", False))
        self._send(path, document, worker.started)

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for worker in [w for w in self.workers.values() if w.deadline <= now]:
            self._end(worker, error=f"timed out after {self.timeout:g}s (scheduler.parsing_timeout): killed")

    def _end(self, worker: _Worker, *, error: str | None = None) -> None:
        """Kill what is left of the worker's process group, reap it, and report its file if it had one."""
        self.selector.unregister(worker.from_fd)
        os.close(worker.from_fd)
        os.close(worker.to_fd)
        del self.workers[worker.pid]
        try:
            os.killpg(worker.pid, signal.SIGKILL)
        except OSError:
            pass
        _, status = os.waitpid(worker.pid, 0)
        if worker.path is not None:
            document = _error(worker.path, error) if error else _died(worker.path, status)
            self._send(worker.path, document, worker.started)

    def _send(self, path: str, document: dict[str, Any], started: float) -> None:
        document.setdefault("duration_s", time.monotonic() - started)
        try:
            self.conn.send(("result", path, document))
        except OSError:
            self.running = False


def _died(path: str, status: int) -> dict[str, Any]:
    """The error document for a worker that ended while parsing ``path``."""
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return _error(path, "killed: out of memory (or by SIGKILL) while parsing")
    if os.WIFSIGNALED(status):
        return _error(path, f"killed by {signal.Signals(os.WTERMSIG(status)).name} while parsing")
    return _error(path, f"the parsing process exited with status {os.WEXITSTATUS(status)} while parsing")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _error(path: str, message: str) -> dict[str, Any]:
    return {"dags": [], "error": {"filename": path, "lineno": None, "message": message, "stacktrace": None}}


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> None:
    """Entry point: ``FD PROCESSES TIMEOUT MEMORY_LIMIT_MB [DEFAULT_TIMEZONE [FILES_PER_PROCESS [ROOTS [DEFAULT_TASK_RETRIES]]]]``."""
    fd, processes, timeout, memory = int(argv[0]), int(argv[1]), float(argv[2]), int(argv[3])
    set_default_timezone(argv[4] if len(argv) > 4 else "UTC")  # the children inherit it
    files_per_process = int(argv[5]) if len(argv) > 5 else 1
    roots: list[str] = json.loads(argv[6]) if len(argv) > 6 else []
    set_default_task_retries(int(argv[7]) if len(argv) > 7 else 0)  # the children inherit it
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _exit_on_signal)  # unwinds ``serve`` so the children die too
    conn = Connection(fd)
    warm_up()  # lazy imports and caches, paid once here instead of in every child
    gc.freeze()  # children inherit these objects; keep the collector from touching them
    ParseServer(
        conn,
        processes=processes,
        timeout=timeout,
        memory_limit_mb=memory,
        files_per_process=files_per_process,
        roots=roots,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
