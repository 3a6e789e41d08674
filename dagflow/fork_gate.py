"""Forking from a process whose other threads are in the middle of something.

A child forked by one thread starts with every lock exactly as the process's threads
held it at that instant, and only the forking thread runs on in it: a lock another
thread held is held for ever in the child, which hangs the first time it needs it. A
LocalExecutor worker with several lanes (``core.tries_per_worker``) forks task processes
from several threads, so this is the one place that makes such a fork safe: ``FORK_GATE``,
once ``enable()``-d, makes every ``os.fork()`` of the process wait until no *other*
thread is inside a *section*, and keeps other threads from entering one until the fork
is done. The sections are what a task process may need after the fork:

- a database connection, from its checkout to its checkin (``watch_engine``): SQLite's
  process-wide mutexes (a child forked while another thread is inside SQLite hangs in
  its first SQLite call), SQLAlchemy's pool;
- importing a DAG file (``DagCache.get_dags``): the cache's lock, which a reused task
  process takes for its next try, and the import machinery's per-module locks;
- registering a secret (``SecretsMasker.add``): the masker's lock.

For the instant of the fork it also holds every logging handler's lock: Python
re-creates those in the child, but a record another thread was writing would leave the
lock of the handler's stream (an ``io`` buffer) held. ``sys.stdout``/``sys.stderr`` are
replaced in the child instead (``runner._own_std_streams``). A section the forking thread
holds itself does not make it wait (a DAG file that forks while it is imported).

Off until ``enable()`` (a section then costs one flag test): the scheduler and a worker
with one lane fork without waiting. It is off again in a forked child (a task process
runs one try at a time; what it forks is the task's business).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Longest wait of a fork for the other threads' sections, and for each logging handler
#: (a lost checkin or a stuck handler must not stop the process forking for ever).
WAIT_S = 60.0

#: Key in a pooled connection's ``record_info``: the thread that checked it out.
_OWNER = "dagflow_fork_gate_owner"


class ForkGate:
    """Sections that no fork of this process may split (see the module docstring)."""

    def __init__(self) -> None:
        self.enabled = False
        self._hooked = False
        self._engines: list[Any] = []
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held: dict[int, int] = {}  # thread id -> sections it is inside
        self._forking = False
        self._taken: list[Any] = []  # logging handler locks held for the fork

    def enable(self) -> None:
        """From now on, forks of this process wait for the other threads' sections."""
        if not self._hooked:
            os.register_at_fork(
                before=self._before_fork, after_in_parent=self._after_in_parent, after_in_child=self._after_in_child
            )
            self._hooked = True
        self.enabled = True

    @contextmanager
    def section(self) -> Iterator[None]:
        """A stretch of this thread's work that no fork by another thread may split."""
        owner = self.enter()
        try:
            yield
        finally:
            self.leave(owner)

    def enter(self) -> int | None:
        """Start a section (waiting while another thread forks); the token for ``leave``."""
        if not self.enabled:
            return None
        me = threading.get_ident()
        with self._cond:
            while self._forking and me not in self._held:
                self._cond.wait()
            self._held[me] = self._held.get(me, 0) + 1
        return me

    def leave(self, owner: int | None) -> None:
        """End the section ``enter`` returned ``owner`` for (None: it was off then)."""
        if owner is None:
            return
        with self._cond:
            left = self._held.get(owner, 0) - 1
            if left > 0:
                self._held[owner] = left
            else:
                self._held.pop(owner, None)
            self._cond.notify_all()

    def watch_engine(self, engine: Any) -> None:
        """Count each connection of ``engine`` as a section from its checkout to its checkin."""
        from sqlalchemy import event

        if any(known is engine for known in self._engines):
            return
        self._engines.append(engine)
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def _checkout(self, _dbapi: Any, record: Any, _proxy: Any) -> None:
        owner = self.enter()
        if owner is not None:
            record.record_info[_OWNER] = owner

    def _checkin(self, _dbapi: Any, record: Any) -> None:
        # kept in ``record_info`` through an invalidation; absent if checked out while off
        self.leave(record.record_info.pop(_OWNER, None))

    def _before_fork(self) -> None:
        if not self.enabled:
            return
        me = threading.get_ident()
        deadline = time.monotonic() + WAIT_S
        with self._cond:
            while self._forking:  # one fork at a time
                self._cond.wait()
            self._forking = True
            while any(owner != me for owner in self._held) and time.monotonic() < deadline:
                self._cond.wait(max(deadline - time.monotonic(), 0.0))
        for handler in _all_handlers():
            lock = handler.lock
            if lock is not None and lock.acquire(timeout=max(deadline - time.monotonic(), 0.1)):
                self._taken.append(lock)

    def _after_in_parent(self) -> None:
        if not self.enabled:
            return
        taken, self._taken = self._taken, []
        for lock in reversed(taken):
            lock.release()
        with self._cond:
            self._forking = False
            self._cond.notify_all()

    def _after_in_child(self) -> None:
        for lock in reversed(self._taken):
            try:  # logging's own fork hook re-created most of them already
                lock.release()
            except RuntimeError:
                continue
        self.enabled = False
        self._reset()


def _all_handlers() -> list[logging.Handler]:
    """Every handler attached to a logger of this process."""
    loggers: list[Any] = [logging.getLogger(), *list(logging.Logger.manager.loggerDict.values())]
    found: dict[int, logging.Handler] = {}
    for logger in loggers:
        for handler in list(getattr(logger, "handlers", ())):
            found[id(handler)] = handler
    return list(found.values())


#: The process's gate (one per process: forks are per process).
FORK_GATE = ForkGate()
