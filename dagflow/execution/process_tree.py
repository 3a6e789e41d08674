"""Killing a task's whole process tree: its process group plus any escaped descendant.

A task process runs in its own process group, so ``killpg`` reaches every child that
stayed in it (``sleep 30`` under a BashOperator). Descendants that started their own
session are tracked by (pid, create_time) snapshots, so a recycled pid is never hit.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from dataclasses import dataclass, field

import psutil


@dataclass
class ProcessTree:
    """The process group of one task process and the descendants seen so far."""

    pgid: int
    seen: dict[int, float] = field(default_factory=dict)

    def snapshot(self, root_pid: int) -> None:
        """Remember every current descendant of ``root_pid``.

        Reads only the descendants' own ``/proc/<pid>/task/<tid>/children`` files where the
        kernel has them (microseconds for a task with no children), not the whole process
        table: with a few dozen workers and their tries on the machine, a table scan per
        try cost milliseconds, and more the busier the machine was.
        """
        pids = descendant_pids(root_pid)
        if pids is None:  # no children files: ask psutil (scans every process)
            try:
                pids = [child.pid for child in psutil.Process(root_pid).children(recursive=True)]
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return
        for pid in pids:
            if pid in self.seen:
                continue
            try:
                self.seen[pid] = psutil.Process(pid).create_time()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    def signal_all(self, sig: int) -> None:
        """Send ``sig`` to the group and to every remembered descendant still alive."""
        signal_group(self.pgid, sig)
        for proc in self._alive():
            try:
                proc.send_signal(sig)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    def alive(self) -> bool:
        """True if any process of the group or a remembered descendant still runs."""
        return group_alive(self.pgid) or bool(self._alive())

    def terminate(self, grace_s: float) -> None:
        """SIGTERM everything, wait up to ``grace_s``, then SIGKILL what is left."""
        self.signal_all(signal.SIGTERM)
        deadline = time.monotonic() + max(grace_s, 0.0)
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        """SIGKILL everything at once."""
        self.signal_all(signal.SIGKILL)

    def kill_descendants(self) -> None:
        """SIGKILL every remembered descendant still alive, but not the group (its leader lives on)."""
        for proc in self._alive():
            try:
                proc.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue

    def _alive(self) -> list[psutil.Process]:
        alive = []
        for pid, created in list(self.seen.items()):
            try:
                proc = psutil.Process(pid)
                if abs(proc.create_time() - created) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
                    continue
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
            self.seen.pop(pid, None)
        return alive


def signal_group(pgid: int, sig: int) -> bool:
    """``killpg`` that ignores a group already gone; True if the signal was sent."""
    if pgid <= 1:
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True if some non-zombie process is still in group ``pgid``."""
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.info["pid"]) == pgid:
                return True
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return False


@functools.cache
def _children_files_exist() -> bool:
    """Whether this kernel has ``/proc/<pid>/task/<tid>/children`` (CONFIG_PROC_CHILDREN); asked once."""
    try:
        return all(os.path.exists(f"/proc/self/task/{tid}/children") for tid in os.listdir("/proc/self/task"))
    except OSError:
        return False


def descendant_pids(root_pid: int) -> list[int] | None:
    """Every live descendant of ``root_pid``, walking ``/proc/<pid>/task/<tid>/children``;
    None when the kernel does not offer those files. A process that ends meanwhile is skipped."""
    if not _children_files_exist():
        return None
    found: list[int] = []
    pending = [root_pid]
    while pending:
        pid = pending.pop()
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:  # gone
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                    children = [int(child) for child in fh.read().split()]
            except OSError:  # the thread or the process ended
                continue
            found += children
            pending += children
    return found


def has_children() -> bool | None:
    """True/False if this process has live children, from ``/proc/self/task/*/children``;
    None when the kernel does not offer those files.

    Reading our own few files costs microseconds, where ``psutil.Process().children()``
    reads the stat file of every process on the machine (~10 ms with a few hundred).
    """
    try:
        threads = os.listdir("/proc/self/task")
        for tid in threads:
            with open(f"/proc/self/task/{tid}/children", "rb") as fh:
                if fh.read().strip():
                    return True
    except FileNotFoundError:  # a thread that just ended: ask psutil
        return None
    except OSError:
        return None
    return False


def kill_own_descendants(grace_s: float = 0.0) -> None:
    """SIGTERM (then SIGKILL) every descendant of this process; used by a task process.

    Most tries start no process: then no scan of the process table is needed
    (a grandchild whose parent already exited belongs to init, not to us, either way).
    """
    if has_children() is False:
        return
    try:
        children = psutil.Process().children(recursive=True)
    except psutil.Error:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL) if grace_s > 0 else (signal.SIGKILL,):
        for child in children:
            try:
                child.send_signal(sig)
            except psutil.Error:
                continue
        if sig == signal.SIGTERM:
            psutil.wait_procs(children, timeout=grace_s)
