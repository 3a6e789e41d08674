"""The parent's handle on the parse server: submit files, collect results without blocking.

``ParsePool`` starts ``parse_server`` in a fresh interpreter on first use (see that
module for its forked workers, each parsing up to ``files_per_process`` files), sends it paths and turns its answers
into ``ParseResult``s. ``poll(0)`` never blocks, so a scheduler can call it every
tick. If the server dies, the files it was parsing are sent again once to a new
server; a file that kills two servers in a row becomes an import error.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from dagflow.exceptions import DagImportError

SERVER_MODULE = "dagflow.dag_processing.parse_server"


class ParsedImportError(DagImportError):
    """An import error reported by a parsing process, with its stack trace as text."""

    def __init__(self, filename: str, message: str, lineno: int | None = None, stacktrace: str | None = None) -> None:
        """File, line, one-line message and the child's formatted stack trace."""
        super().__init__(filename, message, lineno)
        self.stacktrace = stacktrace


@dataclass(frozen=True)
class ParseResult:
    """What parsing one file produced: serialized DAG documents or an import error."""

    path: str
    dags: tuple[dict[str, Any], ...]
    error: ParsedImportError | None
    duration_s: float
    #: ``(path, mtime_ns, size, digest)`` of each file under the DAG folders the import loaded.
    imports: tuple[tuple[str, int, int, str], ...] = ()

    @classmethod
    def from_document(cls, path: str, document: dict[str, Any]) -> ParseResult:
        """Build from a child's JSON document (``parse_child.parse_file`` + duration)."""
        raw = document.get("error")
        error = None
        if raw is not None:
            error = ParsedImportError(
                raw.get("filename") or path,
                raw.get("message") or "import failed",
                raw.get("lineno"),
                raw.get("stacktrace"),
            )
        imports = tuple((str(i[0]), int(i[1]), int(i[2]), str(i[3])) for i in document.get("imports") or ())
        duration = float(document.get("duration_s") or 0.0)
        return cls(path, tuple(document.get("dags") or ()), error, duration, imports)


class ParsePool:
    """Parse DAG files in isolated processes, ``processes`` at a time, each under ``timeout``."""

    def __init__(
        self,
        *,
        processes: int,
        timeout: float,
        memory_limit_mb: int,
        default_timezone: str = "UTC",
        default_task_retries: int = 0,
        files_per_process: int = 1,
        roots: Iterable[str] = (),
    ) -> None:
        """Nothing starts until the first ``submit``.

        ``default_timezone`` is ``core.default_timezone``; a parsing process handles up to
        ``files_per_process`` files; ``default_task_retries`` is ``core.default_task_retries``;
        ``roots`` (the DAG folders) say which imported modules
        are the user's, dropped after each file and reported as the file's imports.
        """
        self.processes = processes
        self.timeout = timeout
        self.memory_limit_mb = memory_limit_mb
        self.default_timezone = default_timezone
        self.default_task_retries = default_task_retries
        self.files_per_process = files_per_process
        self.roots = [str(root) for root in roots]
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._pending: set[str] = set()
        self._resent: set[str] = set()

    @property
    def pending(self) -> frozenset[str]:
        """Paths submitted and not yet answered."""
        return frozenset(self._pending)

    def submit(self, paths: Iterable[str]) -> None:
        """Queue files for parsing (a file already pending is not queued twice)."""
        for path in paths:
            if path in self._pending:
                continue
            self._pending.add(path)
            self._send(("parse", path))

    def poll(self, timeout: float = 0.0) -> list[ParseResult]:
        """Results that have arrived, waiting up to ``timeout`` seconds for the first one."""
        if not self._pending or self._conn is None:
            return []
        results: list[ParseResult] = []
        try:
            if self._conn.poll(timeout):
                while self._pending and self._conn.poll(0):
                    results.extend(self._accept(self._conn.recv()))
        except (EOFError, OSError):
            results.extend(self._server_died())
        return results

    def close(self) -> None:
        """Stop the server and its children; pending files are dropped."""
        proc, conn = self._proc, self._conn
        self._proc, self._conn = None, None
        self._pending.clear()
        if conn is not None:
            try:
                conn.send(("stop",))
            except OSError:
                pass
            conn.close()
        if proc is not None:
            _stop_process(proc)

    def _accept(self, message: tuple[Any, ...]) -> list[ParseResult]:
        _, path, document = message
        if path not in self._pending:
            return []
        self._pending.discard(path)
        self._resent.discard(path)
        return [ParseResult.from_document(path, document)]

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is None:
            self._start()
        assert self._conn is not None
        try:
            self._conn.send(message)
        except OSError:
            pass  # the server is gone: the next poll reads end-of-file and restarts it

    def _server_died(self) -> list[ParseResult]:
        """Restart; send unanswered files again, once; a repeat offender becomes an error."""
        lost = sorted(self._pending)
        self.close()
        failed = [p for p in lost if p in self._resent]
        self._resent = {p for p in lost if p not in self._resent}
        self.submit(self._resent)
        message = "the parsing process server died twice while parsing this file"
        return [ParseResult(p, (), ParsedImportError(p, message), 0.0) for p in failed]

    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        args = [
            str(theirs.fileno()),
            str(self.processes),
            str(self.timeout),
            str(self.memory_limit_mb),
            self.default_timezone,
            str(self.files_per_process),
            json.dumps(self.roots),
            str(self.default_task_retries),
        ]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        with theirs:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", SERVER_MODULE, *args],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self._conn = Connection(ours.detach())


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=2)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
