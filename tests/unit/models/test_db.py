"""``Database``: transactions, SQLite tuning, migrations runner, check, clear errors."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dagflow import db as dagflow_db
from dagflow.config import Settings
from dagflow.db import Database, migrations_dir, normalize_url
from dagflow.exceptions import DatabaseError
from dagflow.models import Pool, Variable


def test_transaction_commits_on_exit_and_rolls_back_on_error(db: Database) -> None:
    with db.transaction() as session:
        session.add(Variable(key="kept", val="1"))
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.add(Variable(key="dropped", val="2"))
        session.flush()
        raise RuntimeError("boom")
    with db.transaction() as session:
        assert session.scalars(sa.select(Variable.key)).all() == ["kept"]


def test_objects_stay_readable_after_commit(db: Database) -> None:
    with db.transaction() as session:
        var = Variable(key="k", val="v")
        session.add(var)
    assert var.val == "v"  # expire_on_commit=False


def test_sqlite_connections_are_tuned(db: Database) -> None:
    with db.engine.connect() as connection:
        pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == int(db.settings.database.sqlite_busy_timeout * 1000)
        assert pragma("synchronous") == 1  # NORMAL


def test_sqlite_read_then_write_transactions_do_not_fail_each_other(db: Database) -> None:
    """Deferred BEGINs would fail here with "database is locked"; BEGIN IMMEDIATE queues them."""
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                with db.transaction() as session:
                    session.scalar(sa.select(sa.func.count()).select_from(Variable))
                    time.sleep(0.002)
                    session.add(Variable(key=f"{n}-{i}", val="x"))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.transaction(readonly=True) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Variable)) == 40


def test_readonly_transaction_does_not_wait_for_a_writer(db: Database) -> None:
    with db.transaction() as writer:
        writer.add(Variable(key="pending", val="1"))
        writer.flush()  # holds the write lock now
        started = time.monotonic()
        with db.transaction(readonly=True) as reader:
            assert reader.scalars(sa.select(Variable.key)).all() == []
        assert time.monotonic() - started < 1.0


def test_check_says_head_or_raises(settings: Settings) -> None:
    database = Database(settings)
    with pytest.raises(DatabaseError, match="does not exist.*dagflow db migrate"):
        database.check()
    assert not (settings.home / "dagflow.db").exists()  # checking creates nothing
    database.migrate()
    database.migrate()  # idempotent
    assert "head" in database.check()
    assert database.current_revision() == database.head_revision()
    database.dispose()


def test_reset_drops_data_and_migrates_again(db: Database) -> None:
    with db.transaction() as session:
        session.add(Variable(key="k", val="v"))
        session.get_one(Pool, "default_pool").slots = 3
    db.reset()
    with db.transaction() as session:
        assert session.scalars(sa.select(Variable)).all() == []
        assert session.get_one(Pool, "default_pool").slots == 128
    assert "head" in db.check()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "unsupported database 'mysql'"),
        ("sqlite+nosuchdriver:///x.db", "cannot use"),
    ],
)
def test_unusable_url_is_one_clear_error(settings: Settings, url: str, message: str) -> None:
    bad = settings.replace(database={"sql_alchemy_conn": url})
    with pytest.raises(DatabaseError, match=message) as info:
        Database(bad)
    assert "\n" not in str(info.value)


def test_unreachable_database_is_one_clear_error(settings: Settings, tmp_path: Path) -> None:
    for url, problem in (
        ("postgresql://root@127.0.0.1:1/nothing", "cannot connect"),
        (f"sqlite:///{tmp_path}/no/such/dir/x.db", "does not exist"),
    ):
        database = Database(settings.replace(database={"sql_alchemy_conn": url}))
        with pytest.raises(DatabaseError, match=problem) as info:
            database.check()
        assert "\n" not in str(info.value)


def test_postgres_urls_use_psycopg_3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


def test_migrations_folder_is_found() -> None:
    folder = migrations_dir()
    assert (folder / "env.py").is_file() and any((folder / "versions").glob("*_initial.py"))


def test_after_fork_leaves_a_working_engine(db: Database) -> None:
    with db.transaction() as session:
        session.add(Variable(key="k", val="v"))
    db.after_fork()
    with db.transaction() as session:
        assert session.get_one(Variable, "k").val == "v"


def test_forked_child_gets_its_own_connections(db_any: Database) -> None:
    """The pool is dropped in a forked child automatically; the parent's connections survive."""
    import os

    with db_any.transaction() as session:  # leaves a pooled connection in the parent
        session.add(Variable(key="parent", val="1"))
    pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's socket
        status = 1
        try:
            with db_any.transaction() as session:
                session.add(Variable(key="child", val="2"))
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with db_any.transaction() as session:
        assert sorted(session.scalars(sa.select(Variable.key))) == ["child", "parent"]


def _backend_pid(database: Database) -> int:
    with database.transaction() as session:
        return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _terminate_backend(database: Database, pid: int) -> None:
    """End one of this test's own PostgreSQL connections from a connection outside its pool."""
    outside = sa.create_engine(database.url, poolclass=NullPool)
    try:
        with outside.connect() as other:
            end_it = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid = :pid"
            assert other.execute(sa.text(end_it), {"pid": pid}).scalar() is True
            gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"
            deadline = time.monotonic() + 10
            while other.execute(sa.text(gone), {"pid": pid}).scalar():
                other.rollback()  # pg_stat_activity is a snapshot per transaction
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        outside.dispose()


@pytest.mark.postgres
def test_postgres_idle_pooled_connection_that_died_is_replaced_at_checkout(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection idle for ``PING_AFTER_IDLE_S`` is pinged when checked out: a dead one never reaches the caller."""
    monkeypatch.setattr(dagflow_db, "PING_AFTER_IDLE_S", 0.0)
    first = _backend_pid(pg_db)
    _terminate_backend(pg_db, first)
    assert _backend_pid(pg_db) != first


@pytest.mark.postgres
def test_postgres_connection_used_just_now_is_not_pinged_and_a_dead_one_costs_one_error(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ping (no round trip) for a connection checked in moments ago; if it died, one
    transaction fails like one cut off mid-way and the pool hands out fresh connections after."""
    monkeypatch.setattr(dagflow_db, "PING_AFTER_IDLE_S", 3600.0)
    first = _backend_pid(pg_db)
    _terminate_backend(pg_db, first)
    with pytest.raises(DatabaseError):
        _backend_pid(pg_db)
    assert _backend_pid(pg_db) != first
