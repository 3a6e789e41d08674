"""On SQLite, notice a run queued by another process (``dags trigger``) without a full pass.

PostgreSQL tells the scheduler through ``LISTEN/NOTIFY`` (``dagflow.execution.events``);
SQLite has no cross-process notification, so a queued run used to wait for the next
full pass (``scheduler.poll_interval``, 0.5 s on average). ``SqliteRunWatcher`` is a
thread that reads ``PRAGMA data_version`` every ``WATCH_INTERVAL_S``: a counter SQLite
keeps in shared memory, which changes only when another connection committed. Only
then does it look for queued runs (one indexed query on ``dag_run.state``) and hand the
new ones to ``Scheduler.notify_run(..., manage_runs=True)``, which wakes the loop. An
idle installation costs a few microseconds per check; the poll interval stays the
fallback.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from dagflow.db import Database, fork_guard

log = logging.getLogger(__name__)

#: Seconds between two ``data_version`` checks.
WATCH_INTERVAL_S = 0.05

Notify = Callable[..., None]


class SqliteRunWatcher:
    """A daemon thread that reports newly queued runs of a SQLite metadata DB."""

    def __init__(self, path: str, notify: Notify, *, interval_s: float = WATCH_INTERVAL_S) -> None:
        self.path = path
        self.notify = notify
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: set[tuple[str, str]] = set()

    def start(self) -> None:
        """Start watching (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="scheduler-sqlite-watch", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _loop(self) -> None:
        try:
            with fork_guard():
                conn = sqlite3.connect(
                    f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=1.0
                )
        except sqlite3.Error as exc:
            log.warning("cannot watch %s for queued runs (%s): the poll interval applies", self.path, exc)
            return
        version = None
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    with fork_guard():  # the scheduler forks workers and callback processes
                        current = conn.execute("PRAGMA data_version").fetchone()[0]
                        queued = self._queued(conn) if current != version else None
                    if queued is not None:
                        version = current
                        self._report(queued)
                except sqlite3.Error as exc:  # busy or briefly unreadable: try again next time
                    log.debug("queued-run check failed: %s", exc)
        finally:
            with fork_guard():
                conn.close()

    @staticmethod
    def _queued(conn: sqlite3.Connection) -> set[tuple[str, str]]:
        return {(d, r) for d, r in conn.execute("SELECT dag_id, run_id FROM dag_run WHERE state = 'queued'")}

    def _report(self, queued: set[tuple[str, str]]) -> None:
        for dag_id, run_id in queued - self._seen:
            self.notify(dag_id, run_id, manage_runs=True)
        self._seen = queued


def sqlite_run_watcher(db: Database, notify: Notify) -> SqliteRunWatcher | None:
    """A watcher for ``db`` if it is a SQLite file, else None (PostgreSQL has its listener)."""
    if db.dialect != "sqlite" or db.url.database in (None, "", ":memory:"):
        return None
    return SqliteRunWatcher(str(db.url.database), notify)
