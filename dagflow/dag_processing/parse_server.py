"""The parse server: a small process that forks one child per DAG file and polices it.

Started by ``ParsePool`` as ``python -m dagflow.dag_processing.parse_server FD N T M TZ``
with one end of a socket pair (TZ: ``core.default_timezone``, the zone of naive DAG dates). It imports dagflow and the SDK once, opens no database
connection and runs a single thread, so forking it is safe and the cheapest way to get
a fresh, isolated interpreter per file (about a millisecond, against ~250 ms for a
spawned interpreter that re-imports dagflow; ``multiprocessing``'s forkserver would
also re-run the parent's ``__main__`` script in every child on Python 3.11).

Protocol (``multiprocessing.connection`` messages): the parent sends
``("parse", path)`` or ``("stop",)``; the server answers ``("result", path, document)``
where ``document`` is what ``parse_child.parse_file`` returns, or an error document
when the child timed out, was killed or died. At most N children run at once; a child
still alive ``T`` seconds (+ a short grace for the soft timeout to land) after it
started is killed with its whole process group. End of file on the socket (the parent
died) kills the children and ends the server.
"""

from __future__ import annotations

import gc
import json
import os
import selectors
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import dagflow.operators
import dagflow.sensors  # noqa: F401
from dagflow.dag_processing.parse_child import run_child, warm_up
from dagflow.sdk.task_defaults import set_default_task_retries
from dagflow.sdk.timezone import set_default_timezone

#: Extra seconds after the soft timeout before the hard kill (the soft one names the line).
KILL_GRACE_S = 1.0


@dataclass
class _Child:
    path: str
    pid: int
    fd: int
    deadline: float
    started: float
    data: bytearray = field(default_factory=bytearray)


class ParseServer:
    """Fork one child per requested file, at most ``processes`` at a time."""

    def __init__(self, conn: Connection, *, processes: int, timeout: float, memory_limit_mb: int) -> None:
        """Serve requests arriving on ``conn``."""
        self.conn = conn
        self.processes = max(1, processes)
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self.queue: deque[str] = deque()
        self.children: dict[int, _Child] = {}
        self.selector = selectors.DefaultSelector()
        self.selector.register(conn.fileno(), selectors.EVENT_READ, None)
        self.running = True

    def serve(self) -> None:
        """Loop until told to stop or the parent goes away."""
        try:
            while self.running:
                self._start_children()
                for key, _ in self.selector.select(self._wait_time()):
                    if key.data is None:
                        self._receive()
                    else:
                        self._read_child(key.data)
                self._kill_overdue()
        finally:
            for child in list(self.children.values()):
                self._finish(child, error="parse server stopped")

    def _wait_time(self) -> float | None:
        if not self.children:
            return None
        return max(0.0, min(c.deadline for c in self.children.values()) - time.monotonic())

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

    def _start_children(self) -> None:
        while self.queue and len(self.children) < self.processes:
            path = self.queue.popleft()
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_fd)
                run_child(path, write_fd, timeout=self.timeout, memory_limit_mb=self.memory_limit_mb)
            os.close(write_fd)
            now = time.monotonic()
            child = _Child(path, pid, read_fd, deadline=now + self.timeout + KILL_GRACE_S, started=now)
            self.children[pid] = child
            self.selector.register(read_fd, selectors.EVENT_READ, child)

    def _read_child(self, child: _Child) -> None:
        chunk = os.read(child.fd, 1 << 16)
        if chunk:
            child.data += chunk
        else:
            self._finish(child)

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for child in [c for c in self.children.values() if c.deadline <= now]:
            self._finish(child, error=f"timed out after {self.timeout:g}s (scheduler.parsing_timeout): killed")

    def _finish(self, child: _Child, *, error: str | None = None) -> None:
        """Kill what is left of the child's process group, reap it and report the file."""
        self.selector.unregister(child.fd)
        os.close(child.fd)
        del self.children[child.pid]
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        _, status = os.waitpid(child.pid, 0)
        document = _error(child.path, error) if error else _decode(child, status)
        document.setdefault("duration_s", time.monotonic() - child.started)
        try:
            self.conn.send(("result", child.path, document))
        except OSError:
            self.running = False


def _decode(child: _Child, status: int) -> dict[str, Any]:
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        try:
            document: dict[str, Any] = json.loads(child.data)
            return document
        except ValueError:
            return _error(child.path, "the parsing process sent an unreadable result")
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return _error(child.path, "killed: out of memory (or by SIGKILL) while parsing")
    if os.WIFSIGNALED(status):
        return _error(child.path, f"killed by {signal.Signals(os.WTERMSIG(status)).name} while parsing")
    return _error(child.path, f"the parsing process exited with status {os.WEXITSTATUS(status)}")


def _error(path: str, message: str) -> dict[str, Any]:
    return {"dags": [], "error": {"filename": path, "lineno": None, "message": message, "stacktrace": None}}


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> None:
    """Entry point: ``FD PROCESSES TIMEOUT MEMORY_LIMIT_MB [DEFAULT_TIMEZONE [DEFAULT_TASK_RETRIES]]``."""
    fd, processes, timeout, memory = int(argv[0]), int(argv[1]), float(argv[2]), int(argv[3])
    set_default_timezone(argv[4] if len(argv) > 4 else "UTC")  # the children inherit it
    set_default_task_retries(int(argv[5]) if len(argv) > 5 else 0)  # and this
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _exit_on_signal)  # unwinds ``serve`` so the children die too
    conn = Connection(fd)
    warm_up()  # lazy imports and caches, paid once here instead of in every child
    gc.freeze()  # children inherit these objects; keep the collector from touching them
    ParseServer(conn, processes=processes, timeout=timeout, memory_limit_mb=memory).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
