"""A try's output goes through the secrets masker on its way to the try's log file.

Forked task process (``MaskedLogPipe``): fds 1 and 2 point at a pipe, and a thread of
the task process reads it, replaces every known secret by ``***`` and appends to the
log file. ``print``, logging and subprocesses (a bash command's output) all write to
fds 1 and 2, so all of it is masked, whatever a secret was registered by (the
supervisor up front, or the task reading a connection or variable). Lines (ended by a
newline or a carriage return) are masked whole; a partial line is written once it has
waited ``IDLE_FLUSH_S``, so a live tail still sees progress. Before the task process exits it stops the
thread, which first drains the pipe. The supervisor keeps the read end open too: if the
task process dies without draining (SIGKILL at the hard timeout), the supervisor writes
what is left in the pipe, masked with the secrets it knows.

In-process tries (``MaskingWriter``): ``sys.stdout``, ``sys.stderr`` and the logging
handler write through a text stream that masks line by line.
"""

from __future__ import annotations

import _thread
import io
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from dagflow.private_files import open_private_append
from dagflow.secrets.masker import SecretsMasker

#: Seconds without output after which a partial line is written anyway.
IDLE_FLUSH_S = 0.2
#: Bytes read from the pipe at a time.
CHUNK = 65536
#: A partial line longer than this is written without waiting for its newline.
MAX_PENDING = 1 << 20
#: After the task ends, at most this many more bytes are taken from writers that outlive it.
STOP_BUDGET = 16 << 20
#: Longest wait for the pump thread to finish draining when the task process ends.
STOP_TIMEOUT_S = 5.0


class MaskedLogPipe:
    """fds 1/2 → pipe → masking thread → the try's log file. Built before the fork."""

    def __init__(self, log_path: Path, masker: SecretsMasker) -> None:
        self.log_path = Path(log_path)
        self.masker = masker
        self._read_fd, self._write_fd = os.pipe()
        self._wake: tuple[int, int] | None = None
        self._done: threading.Lock | None = None
        self._drained = False
        self._log_fd: int | None = None

    @classmethod
    def from_fds(cls, log_path: Path, masker: SecretsMasker, read_fd: int, write_fd: int) -> MaskedLogPipe:
        """The task end of a pipe made by the supervisor and handed over (a reused task process)."""
        pipe = cls.__new__(cls)
        pipe.log_path, pipe.masker = Path(log_path), masker
        pipe._read_fd, pipe._write_fd = read_fd, write_fd
        pipe._wake, pipe._done, pipe._drained, pipe._log_fd = None, None, False, None
        return pipe

    def fds(self) -> tuple[int, int]:
        """The pipe's read and write ends (to hand to a reused task process)."""
        return self._read_fd, self._write_fd

    # --- supervisor side -------------------------------------------------------------
    def close_write_end(self) -> None:
        """In the supervisor after the fork: only the task process writes."""
        _close(self._write_fd)

    def drain_leftover(self) -> None:
        """In the supervisor once the task process is gone: log what it left unread in the pipe."""
        if self._read_fd < 0:
            return
        os.set_blocking(self._read_fd, False)
        left = bytearray()
        try:
            while len(left) < STOP_BUDGET:
                chunk = os.read(self._read_fd, CHUNK)
                if not chunk:
                    break
                left += chunk
        except BlockingIOError:
            pass
        if left:
            fd = open_private_append(self.log_path)
            try:
                _write_all(fd, _masked(bytes(left), self.masker))
            finally:
                os.close(fd)

    def close(self) -> None:
        """Release the supervisor's read end."""
        _close(self._read_fd)
        self._read_fd = -1

    # --- task process side -----------------------------------------------------------
    def attach(self) -> None:
        """In the task process: point fds 1 and 2 (and ``sys.stdout``/``sys.stderr``) at the pipe."""
        self._log_fd = open_private_append(self.log_path)
        self._wake = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self._write_fd, 1)
        os.dup2(self._write_fd, 2)
        _close(self._write_fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        # A bare thread: ``Thread.start()`` waits until the new thread runs, which costs
        # a scheduling round (up to milliseconds on a busy host) on every try.
        self._done = threading.Lock()
        self._done.acquire()
        _thread.start_new_thread(self._run, ())

    def detach(self) -> None:
        """In the task process before it exits: flush, stop writing, let the thread drain the pipe.

        A SIGTERM or alarm now must not raise out of the exiting process's last steps, so
        their handlers are switched off first (the process is about to ``os._exit``).
        """
        if self._done is None or self._wake is None:
            return
        for name in ("SIGTERM", "SIGALRM", "SIGINT"):
            try:
                signal.signal(getattr(signal, name), signal.SIG_IGN)
            except (AttributeError, ValueError):  # no such signal here, or not the main thread
                pass
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)
        os.write(self._wake[1], b"x")
        self._drained = self._done.acquire(timeout=STOP_TIMEOUT_S)

    def release(self) -> bool:
        """In a reused task process after ``detach``: close this try's descriptors.

        False if the masking thread did not finish (something still writes to the pipe):
        the process must then not run another try.
        """
        if not self._drained:
            return False
        assert self._wake is not None
        for fd in (self._read_fd, self._log_fd, *self._wake):
            if fd is not None:
                _close(fd)
        self._read_fd, self._log_fd, self._wake = -1, None, None
        return True

    def _run(self) -> None:
        assert self._done is not None
        try:
            self._pump()
        finally:
            self._done.release()

    def _pump(self) -> None:
        assert self._wake is not None and self._log_fd is not None
        watched = [self._read_fd, self._wake[0]]
        pending, due, stopping, budget = b"", 0.0, False, STOP_BUDGET
        while True:
            now = time.monotonic()
            if pending and not stopping and now >= due:
                self._write(pending)  # a partial line waited long enough: write it for live tails
                pending = b""
            timeout = 0.0 if stopping else (max(due - now, 0.0) if pending else None)
            ready, _, _ = select.select(watched, [], [], timeout)
            if self._wake[0] in ready:
                stopping, watched = True, [self._read_fd]
            if self._read_fd not in ready:
                if stopping:
                    break  # the pipe is empty: everything the task wrote is in the log
                continue
            chunk = os.read(self._read_fd, CHUNK)
            if not chunk:
                break
            rest, wrote = self._write_lines(pending + chunk)
            if rest and (wrote or not pending):
                due = time.monotonic() + IDLE_FLUSH_S  # the oldest unwritten byte just arrived
            pending = rest
            if stopping:
                budget -= len(chunk)
                if budget <= 0:
                    break
        self._write(pending)

    def _write_lines(self, data: bytes) -> tuple[bytes, bool]:
        """Write the complete lines of ``data`` (ended by ``\\n`` or ``\\r``); the partial line left,
        and whether anything was written."""
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        if len(data) - cut > MAX_PENDING:
            cut = len(data)
        if cut:
            self._write(data[:cut])
        return data[cut:], bool(cut)

    def _write(self, data: bytes) -> None:
        if not data or self._log_fd is None:
            return
        try:
            _write_all(self._log_fd, _masked(data, self.masker))
        except OSError:
            pass  # a full disk must not block the task on a full pipe; nowhere to report it


class MaskingWriter(io.TextIOBase):
    """A text stream that masks secrets a line at a time before writing to ``target``."""

    def __init__(self, target: TextIO, masker: SecretsMasker) -> None:
        super().__init__()
        self._target = target
        self._masker = masker
        self._pending = ""
        self._lock = threading.Lock()

    def writable(self) -> bool:
        """Always."""
        return True

    def fileno(self) -> int:
        """The target's descriptor (what a subprocess writes there directly is not masked)."""
        return self._target.fileno()

    def write(self, text: str) -> int:
        """Buffer ``text``; write its complete lines, masked."""
        with self._lock:
            data = self._pending + text
            cut = data.rfind("\n") + 1
            if cut:
                self._target.write(self._masker.mask(data[:cut]))
            self._pending = data[cut:]
        return len(text)

    def flush(self) -> None:
        """Write a pending partial line (masked) and flush the target."""
        with self._lock:
            if self._pending:
                self._target.write(self._masker.mask(self._pending))
                self._pending = ""
        self._target.flush()


def _masked(data: bytes, masker: SecretsMasker) -> bytes:
    if not len(masker):
        return data
    text = data.decode("utf-8", "surrogateescape")
    return masker.mask(text).encode("utf-8", "surrogateescape")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
