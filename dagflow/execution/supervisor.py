"""The parent side of a forked try: wait, heartbeat, kill when the try must stop.

While the task process runs, the supervisor heartbeats the task instance every
``heartbeat_interval``; a heartbeat that finds the row no longer ``running`` with this
try's token means a person, a clear or the reaper took the try away (an *undead*
task), so the whole process tree is terminated. A hard deadline (``execution_timeout``
plus a grace period) backs up the in-process timeout. Whatever happens, once the task
process is gone its process group is SIGKILLed so no descendant outlives the try.

A reused task process (``core.max_tries_per_child``) says ``idle`` when its try is over
instead of exiting: the supervisor then returns ``ChildExit(idle=True)`` and kills only
the descendants it saw, not the process itself.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dagflow.execution.process_tree import ProcessTree

log = logging.getLogger(__name__)

#: How long callbacks may run after the outcome is recorded (no heartbeat meanwhile).
CALLBACK_TIMEOUT_S = 60.0
#: Returned by ``_ChildWaiter.wait`` when the result channel is readable (wait statuses are >= 0).
MESSAGE = -1
#: What ``on_message`` reports: the outcome is recorded (only callbacks are left to run),
#: a reused task process is idle (its try is over), the channel was closed, or the try's
#: rendered fields arrived (nothing changes for the watch).
RECORDED, IDLE, CLOSED, RENDERED = "recorded", "idle", "closed", "rendered"
#: Wait status used when the task process was reaped by someone else (reads as exit code 255).
UNKNOWN_STATUS = 255 << 8
#: How often descendants are snapshotted (so escaped ones can be killed later).
SNAPSHOT_INTERVAL_S = 0.5
#: The first snapshot waits a little: most tries end sooner, and the task process kills
#: its own descendants when it ends; snapshots matter when it is killed or dies.
FIRST_SNAPSHOT_S = 0.1


@dataclass(frozen=True)
class ChildExit:
    """How the task process ended: its wait status and why we killed it, if we did."""

    status: int
    killed_for: str | None = None
    #: A reused task process finished the try and is alive, waiting for the next one.
    idle: bool = False

    @property
    def signal(self) -> int | None:
        """The signal that ended the process, or None if it exited."""
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None

    @property
    def exit_code(self) -> int | None:
        """The exit code, or None if a signal ended it."""
        return os.WEXITSTATUS(self.status) if os.WIFEXITED(self.status) else None

    def describe(self) -> str:
        """``task process exited with signal 9`` / ``... with exit code 1``."""
        if self.killed_for:
            return self.killed_for
        if self.signal is not None:
            return f"task process exited with signal {self.signal} ({signal.Signals(self.signal).name})"
        return f"task process exited with exit code {self.exit_code} without recording an outcome"


class Supervisor:
    """Watches one forked task process until it is gone, with its whole tree."""

    def __init__(
        self,
        pid: int,
        *,
        heartbeat: Callable[[], bool],
        heartbeat_interval_s: float,
        hard_timeout_s: float | None,
        cleanup_time_s: float,
        hard_timeout_reason: str = "timed out: killed by the supervisor",
        messages: int | None = None,
        on_message: Callable[[], str] | None = None,
        reused: bool = False,
    ) -> None:
        self.pid = pid
        self.tree = ProcessTree(pgid=pid)
        self._heartbeat = heartbeat
        self._interval = max(heartbeat_interval_s, 0.05)
        self._deadline = time.monotonic() + hard_timeout_s if hard_timeout_s else None
        self._cleanup = cleanup_time_s
        self._hard_reason = hard_timeout_reason
        self._waiter = _ChildWaiter(pid)
        self._messages = messages if on_message is not None else None
        self._on_message = on_message
        self._reused = reused

    def run(self) -> ChildExit:
        """Block until the task process exits; returns how it ended."""
        next_beat = time.monotonic() + self._interval
        next_snap = time.monotonic() + FIRST_SNAPSHOT_S
        idle = False
        try:
            while True:
                now = time.monotonic()
                if now >= next_snap:
                    self.tree.snapshot(self.pid)
                    next_snap = now + SNAPSHOT_INTERVAL_S
                wake = min(next_beat, next_snap, self._deadline or float("inf"))
                status = self._waiter.wait(max(wake - time.monotonic(), 0.0), self._messages)
                if status is MESSAGE:
                    kind = self._handle_message()
                    if kind == IDLE:
                        idle = True
                        return ChildExit(0, idle=True)
                    if kind == RECORDED and next_beat != float("inf"):  # only callbacks are left to run
                        next_beat = float("inf")
                        self._deadline = time.monotonic() + CALLBACK_TIMEOUT_S
                        self._hard_reason = f"callbacks ran past {CALLBACK_TIMEOUT_S:g}s: killed"
                    continue
                if status is not None:
                    return ChildExit(status)
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    return self._stop(self._hard_reason, 0.0)
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self._interval
                    if not self._beat():
                        return self._stop("the task instance is no longer running this try", self._cleanup)
        finally:
            if idle:
                self.tree.kill_descendants()  # the task process itself waits for its next try
            else:
                self.tree.kill()
            self._waiter.close()

    def _handle_message(self) -> str:
        """Let ``on_message`` record the outcome (``RECORDED``), or hear ``RENDERED``, ``IDLE`` or ``CLOSED``."""
        assert self._on_message is not None
        kind = self._on_message()
        if kind == CLOSED or (kind == RECORDED and not self._reused):
            self._messages = None  # one outcome per try; end of file also ends the watch
        return kind

    def _beat(self) -> bool:
        try:
            return self._heartbeat()
        except Exception:  # the DB may be briefly away: keep the task running
            log.warning("heartbeat of pid %s failed; will retry", self.pid, exc_info=True)
            return True

    def _stop(self, reason: str, grace_s: float) -> ChildExit:
        log.warning("stopping task process %s: %s", self.pid, reason)
        if grace_s > 0:
            self.tree.snapshot(self.pid)
            self.tree.signal_all(signal.SIGTERM)
            status = self._waiter.wait(grace_s)
            if status is not None:
                return ChildExit(status, killed_for=reason)
        self.tree.kill()
        return ChildExit(self._waiter.wait(None) or 0, killed_for=reason)


class _ChildWaiter:
    """``waitpid`` with a timeout: a pidfd when the OS has one, else short polls."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._fd: int | None = None
        try:
            self._fd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._fd = None

    def wait(self, timeout: float | None, messages: int | None = None) -> int | None:
        """The child's wait status once it exits, ``MESSAGE`` when ``messages`` is
        readable, or None after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): status unknown
                return UNKNOWN_STATUS
            if pid == self.pid:
                return status
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None
            if self._sleep(remaining, messages):
                return MESSAGE

    def _sleep(self, remaining: float | None, messages: int | None) -> bool:
        """Wait for the child or a message; True if a message is readable."""
        watched = [fd for fd in (self._fd, messages) if fd is not None]
        if self._fd is None:
            remaining = 0.01 if remaining is None else min(remaining, 0.01)
        ready, _, _ = select.select(watched, [], [], remaining) if watched else ([], [], [])
        if not watched:
            time.sleep(remaining or 0.0)
        return messages is not None and messages in ready

    def close(self) -> None:
        """Release the pidfd."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class HeartbeatThread:
    """Heartbeats from a background thread while a try runs in-process (no kill possible)."""

    def __init__(self, heartbeat: Callable[[], bool], interval_s: float) -> None:
        self._heartbeat = heartbeat
        self._interval = max(interval_s, 0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dagflow-heartbeat", daemon=True)

    def __enter__(self) -> HeartbeatThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                if not self._heartbeat():
                    log.warning("the task instance is no longer running this try")
                    return
            except Exception:
                log.warning("heartbeat failed; will retry", exc_info=True)


#: How often a task process checks that its supervisor is still alive.
PARENT_CHECK_INTERVAL_S = 1.0


def watch_parent(parent_pid: int, interval_s: float = PARENT_CHECK_INTERVAL_S) -> threading.Thread:
    """In a task process: if the supervisor dies (worker ``kill -9``), kill our process group.

    An orphaned try must not go on running user code while the reaper retries it elsewhere.
    """

    def _watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent_pid:
                os.killpg(os.getpgid(0), signal.SIGKILL)

    thread = threading.Thread(target=_watch, name="dagflow-parent-watch", daemon=True)
    thread.start()
    return thread
