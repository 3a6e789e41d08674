"""The SQLite watcher reports a run queued by another connection, once."""

from __future__ import annotations

import threading
import time

import pendulum

from dagflow.db import Database
from dagflow.models import DagRun
from dagflow.scheduler.sqlite_watch import SqliteRunWatcher, sqlite_run_watcher
from dagflow.state import DagRunState


def _queue_run(db: Database, run_id: str) -> None:
    with db.transaction() as session:
        session.add(
            DagRun(
                dag_id="d", run_id=run_id, logical_date=pendulum.now("UTC"), run_type="manual", state=DagRunState.QUEUED
            )
        )


def test_watcher_reports_each_newly_queued_run_once(db: Database) -> None:
    seen: list[tuple[str, str, bool]] = []
    arrived = threading.Event()

    def notify(dag_id: str, run_id: str, *, manage_runs: bool = False) -> None:
        seen.append((dag_id, run_id, manage_runs))
        arrived.set()

    watcher = sqlite_run_watcher(db, notify)
    assert isinstance(watcher, SqliteRunWatcher)
    watcher.start()
    try:
        _queue_run(db, "r1")
        assert arrived.wait(30)
        time.sleep(0.3)  # more checks: the same queued run is not reported again
        assert seen == [("d", "r1", True)]
    finally:
        watcher.stop()
