"""A claim that meets a busy or restarting database is tried again instead of dropping the workload."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest

from dagflow.db import Database
from dagflow.execution import runner
from dagflow.execution.claim import read_status
from dagflow.state import TaskInstanceState as TI

from ._rows import add_run, add_ti


@pytest.fixture
def busy_db(db: Database) -> Iterator[Database]:
    """The test's SQLite database with a short busy timeout: a held write lock fails a claim at once."""
    quick = Database(db.settings.replace(database={"sqlite_busy_timeout": 0.1}))
    yield quick
    quick.dispose()


def _hold_write_lock(path: str, seconds: float, holding: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    holding.set()
    time.sleep(seconds)
    connection.execute("COMMIT")
    connection.close()


def test_claim_waits_out_a_locked_sqlite_database(busy_db: Database) -> None:
    add_run(busy_db)
    workload = add_ti(busy_db, "t")
    holding = threading.Event()
    path = str(busy_db.settings.home / "dagflow.db")
    holder = threading.Thread(target=_hold_write_lock, args=(path, 1.0, holding))
    holder.start()
    holding.wait(5)
    claimed = runner.claim_with_retry(busy_db, workload, retry_for_s=10)
    holder.join()
    assert claimed is not None and claimed.try_number == 1
    status = read_status(busy_db, workload.ti_id)
    assert status is not None and (status.state, status.try_number) == (TI.RUNNING, 1)


def test_claim_gives_up_after_its_retry_window(busy_db: Database) -> None:
    add_run(busy_db)
    workload = add_ti(busy_db, "t")
    holding = threading.Event()
    path = str(busy_db.settings.home / "dagflow.db")
    holder = threading.Thread(target=_hold_write_lock, args=(path, 2.0, holding))
    holder.start()
    holding.wait(5)
    with pytest.raises(runner.TRANSIENT_DB_ERRORS) as raised:
        runner.claim_with_retry(busy_db, workload, retry_for_s=0.5)
    holder.join()
    assert "locked" in str(raised.value)
    status = read_status(busy_db, workload.ti_id)
    assert status is not None and status.state is TI.QUEUED  # nothing written: the workload can be sent again
