"""The metadata database: engine, ``transaction()`` scope and the migrations runner.

``Database(settings)`` is built once at an entry point and passed down. SQLite is tuned
for several processes (WAL, busy timeout, foreign keys on, ``synchronous=NORMAL``);
PostgreSQL is reached through psycopg 3 (``postgresql://`` URLs are read as
``postgresql+psycopg://``) with the session time zone set to UTC.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

import dagflow
from dagflow.exceptions import DatabaseError
from dagflow.private_files import create_private_file

if TYPE_CHECKING:
    from alembic.config import Config

    from dagflow.config import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Execution option that makes a SQLite transaction start with a plain (deferred) BEGIN.
_SQLITE_BEGIN = "dagflow_sqlite_begin"
#: Transaction-scoped advisory lock that serialises concurrent ``migrate()`` calls on PostgreSQL.
_PG_MIGRATION_LOCK = 0x646167666C6F77  # "dagflow"


#: A pooled PostgreSQL connection checked in less than this many seconds ago is handed out without a ping.
PING_AFTER_IDLE_S = 1.0
#: Key in a pool record's ``info``: the monotonic time the connection was last checked in.
_CHECKED_IN_AT = "dagflow_checked_in_at"

#: Held by a background thread while it is inside SQLite, and by ``os.fork()`` (see ``fork_guard``).
_FORK_GUARD = threading.Lock()


def _release_fork_guard() -> None:
    _FORK_GUARD.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_FORK_GUARD.acquire, after_in_parent=_release_fork_guard, after_in_child=_release_fork_guard
    )


@contextmanager
def fork_guard() -> Iterator[None]:
    """Wrap SQLite calls made by a background thread: no fork happens in the middle of one.

    The SQLite library serialises some work with process-wide mutexes (its memory
    allocator, opening a file). A fork taken while another thread holds one leaves the
    child with that mutex locked forever, so the child hangs in its first SQLite call (a
    LocalExecutor worker forked while the scheduler's SQLite watcher ran a query hung in
    ``connect`` and its task stayed queued). Every ``os.fork()`` (multiprocessing,
    ``os.fork`` in the runner) waits for this guard; threads that fork do not take it.
    """
    with _FORK_GUARD:
        yield


def migrations_dir() -> Path:
    """Where the Alembic environment lives: inside the wheel, else the repository root."""
    packaged = Path(dagflow.__file__).parent / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(dagflow.__file__).resolve().parent.parent / "migrations"


def normalize_url(raw: str) -> URL:
    """Parse a database URL; ``postgresql://`` / ``postgres://`` mean psycopg 3."""
    try:
        url = sa.make_url(raw)
    except exc.ArgumentError:
        raise DatabaseError(f"database.sql_alchemy_conn: not a database URL: {raw!r}") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(
            f"database.sql_alchemy_conn: unsupported database {url.get_backend_name()!r} "
            "(use sqlite:/// or postgresql+psycopg://)"
        )
    return url


def build_engine(
    url: URL,
    *,
    pool_size: int = 5,
    max_overflow: int = 10,
    busy_timeout: float = 30.0,
    echo: bool = False,
    for_migrations: bool = False,
) -> Engine:
    """An engine with dagflow's per-connection setup (see ``_setup_sqlite``)."""
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if for_migrations:
        kwargs["poolclass"] = NullPool
    if url.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"options": "-c timezone=UTC"}
        if not for_migrations:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    else:
        kwargs["connect_args"] = {"check_same_thread": False}
        if not for_migrations and url.database not in (None, "", ":memory:"):
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
    try:
        engine = sa.create_engine(url, **kwargs)
    except (exc.ArgumentError, exc.NoSuchModuleError, ImportError) as err:
        raise DatabaseError(f"database.sql_alchemy_conn: cannot use {url!r}: {err}") from None
    if engine.dialect.name == "sqlite":
        _setup_sqlite(engine, busy_timeout=busy_timeout, foreign_keys=not for_migrations)
    else:
        _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a pooled PostgreSQL connection at checkout only if it sat idle ``PING_AFTER_IDLE_S`` or longer.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: one more round trip per
    transaction, four per try on the Celery path (claim, secrets, record, rendered
    fields). A connection checked in a moment ago is almost surely alive; if the
    server went away in that moment, the statement fails like one cut off mid-way, the
    pool is invalidated (SQLAlchemy sees a disconnect) and the callers' retries (the
    scheduler's next tick, the record's retry, the message's redelivery) get fresh
    connections. A dead idle connection fails the ping and is replaced at checkout.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get(_CHECKED_IN_AT)  # None: connected just now (info is cleared on invalidation)
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            raise exc.DisconnectionError(f"pooled connection is gone: {err}") from err


def _setup_sqlite(engine: Engine, *, busy_timeout: float, foreign_keys: bool) -> None:
    """Pragmas on connect, and explicit BEGINs.

    pysqlite's own transaction handling is switched off (``isolation_level = None``) and
    dagflow emits BEGIN itself. Writers use ``BEGIN IMMEDIATE``: the write lock is taken
    at the start, and a busy database makes the BEGIN wait for ``busy_timeout``. With
    a deferred BEGIN, a transaction that read first and then writes must upgrade its
    lock; in WAL mode, if another connection wrote in between, SQLite fails at once with
    "database is locked" (the busy handler is not used for that upgrade), so two
    schedulers or a scheduler and a worker would fail each other at random. Read-only
    scopes (``transaction(readonly=True)``) use a deferred BEGIN so readers never queue
    behind writers. Migrations run with foreign keys off, because batch mode recreates
    tables and a DROP under ``foreign_keys=ON`` would cascade.
    """
    timeout_ms = int(busy_timeout * 1000)
    path = _sqlite_file(engine.url)

    if path is not None:

        @event.listens_for(engine, "do_connect")
        def _create_private(*_args: Any) -> None:
            """Create the database file 0600 before SQLite would create it 0644 (its -wal/-shm follow its mode)."""
            if path.parent.is_dir():
                create_private_file(path)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL, or None for an in-memory or ``file:`` URI database."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:") or url.query.get("uri"):
        return None
    return Path(database)


class Database:
    """The metadata database of one dagflow installation."""

    def __init__(self, settings: Settings) -> None:
        """Build the engine (no connection is made until first use)."""
        self.settings = settings
        db = settings.database
        self.url = normalize_url(db.sql_alchemy_conn)
        self.engine = build_engine(
            self.url,
            pool_size=db.pool_size,
            max_overflow=db.max_overflow,
            busy_timeout=db.sqlite_busy_timeout,
            echo=db.echo,
        )
        self._sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        reader = self.engine.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})
        self._read_sessions = sessionmaker(bind=reader, expire_on_commit=False)
        _forget_pool_after_fork(self)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"<Database {self.url.render_as_string(hide_password=True)}>"

    @contextmanager
    def transaction(self, *, readonly: bool = False) -> Iterator[Session]:
        """A session in one transaction: commits on exit, rolls back on error.

        ``readonly=True`` only changes how SQLite starts the transaction (deferred, so it
        does not wait for writers); it does not stop writes. A lost or refused connection
        surfaces as ``DatabaseError`` (the driver's error chained as its cause).
        """
        factory = self._read_sessions if readonly else self._sessions
        # Leaving the ``with`` closes the session, which rolls back anything uncommitted.
        with factory() as session, _database_errors():
            yield session
            session.commit()

    @contextmanager
    def background_use(self) -> Iterator[None]:
        """Around DB calls made by a background thread: SQLite's are kept out of a fork (``fork_guard``)."""
        if self.dialect != "sqlite":
            yield
            return
        with fork_guard():
            yield

    def migrate(self) -> None:
        """Upgrade the schema to the newest revision (safe to call concurrently)."""
        from alembic import command

        with self.migration_connection() as connection:
            command.upgrade(self.alembic_config(connection), "head")

    def reset(self) -> None:
        """Drop every table (``alembic_version`` included) and migrate from scratch."""
        with self.migration_connection() as connection:
            meta = sa.MetaData()
            meta.reflect(bind=connection)
            meta.drop_all(bind=connection)
        self.migrate()

    def current_revision(self) -> str | None:
        """The revision the database is at (None when never migrated)."""
        from alembic.runtime.migration import MigrationContext

        with _database_errors(), self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest revision in the migrations folder."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.alembic_config(None)).get_current_head()

    def check(self) -> str:
        """Connect and confirm the schema is at head; one line saying so, else ``DatabaseError``."""
        where = self.url.render_as_string(hide_password=True)
        if self.url.get_backend_name() == "sqlite" and not _sqlite_file_exists(self.url):
            raise DatabaseError(f"database {where} does not exist: run `dagflow db migrate`")  # not created here
        current, head = self.current_revision(), self.head_revision()
        if current is None:
            raise DatabaseError(f"database {where} is not initialised: run `dagflow db migrate`")
        if current != head:
            raise DatabaseError(f"database {where} is at revision {current}, expected {head}: run `dagflow db migrate`")
        return f"database {where} is reachable and at revision {head} (head)"

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def after_fork(self) -> None:
        """In a forked child: drop the inherited pool without closing the parent's connections."""
        self.engine.dispose(close=False)

    @contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A connection in a transaction, set up for schema changes (locked, FKs off on SQLite)."""
        engine = build_engine(self.url, busy_timeout=self.settings.database.sqlite_busy_timeout, for_migrations=True)
        try:
            with _database_errors(), engine.connect() as connection, connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
                yield connection
        finally:
            engine.dispose()

    def alembic_config(self, connection: Connection | None) -> Config:
        """An Alembic ``Config`` for dagflow's migrations, running through ``connection``."""
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        config.attributes["connection"] = connection
        config.attributes["dagflow_url"] = self.url
        return config


@contextmanager
def _database_errors() -> Iterator[None]:
    """Turn "cannot connect" errors into one-line ``DatabaseError``s; others pass through."""
    try:
        yield
    except exc.OperationalError as err:
        if not _is_connect_error(err):
            raise
        message = str(err.orig).strip().splitlines()[0] if err.orig else str(err)
        raise DatabaseError(f"cannot connect to the metadata database: {message}") from err


_CONNECT_ERROR_MARKERS = (
    "connection",
    "unable to open database",
    "could not translate host",
    "resolve host",
    "authentication",
    "the database system is",  # shutting down / starting up / in recovery mode
    "server closed",
    "terminating connection",
)


def _is_connect_error(err: exc.OperationalError) -> bool:
    text = str(err.orig).lower()
    return err.connection_invalidated or any(marker in text for marker in _CONNECT_ERROR_MARKERS)


#: Signs of a database server that is away for now (restarting, failing over, a network
#: blip), as opposed to a wrong setting (a bad password, a database that does not exist).
_TRANSIENT_MARKERS = (
    "connection refused",
    "server closed",
    "terminating connection",
    "the database system is",  # shutting down / starting up / in recovery mode
    "timeout expired",
    "timed out",
    "connection reset",
    "consuming input failed",
    "no route to host",
    "network is unreachable",
)


def is_transient_connect_error(error: BaseException) -> bool:
    """True if ``error`` (or what it wraps) says the metadata DB server is away for now.

    A ``DatabaseError`` saying "cannot connect" also covers a bad password or a missing
    database, which waiting does not mend; this tells the two apart. SQLite is a local
    file: never transient.
    """
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, exc.OperationalError | exc.InterfaceError):
            if type(seen.orig).__module__.startswith("sqlite3"):
                return False
            text = str(seen.orig).lower()
            return seen.connection_invalidated or any(marker in text for marker in _TRANSIENT_MARKERS)
        seen = seen.__cause__
    return False


#: Seconds between two tries of a start-up step while the metadata DB is away.
STARTUP_RETRY_S = 1.0


def when_reachable(
    step: Callable[[], T],
    timeout_s: float,
    what: str,
    *,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``step()``, tried again every ``STARTUP_RETRY_S`` while the metadata DB server is away, for ``timeout_s``.

    Only errors that say the server is away for now are retried (``is_transient_connect_error``);
    any other error, or the same one once ``timeout_s`` is over, is raised.
    """
    deadline = clock() + timeout_s
    warned = False
    while True:
        try:
            return step()
        except (DatabaseError, exc.OperationalError, exc.InterfaceError) as err:
            if not is_transient_connect_error(err) or clock() >= deadline:
                raise
            if not warned:
                log.warning(
                    "%s: the metadata database is unreachable, retrying for up to %.0f s: %s",
                    what,
                    timeout_s,
                    str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__,
                )
                warned = True
            sleep(STARTUP_RETRY_S)


def _forget_pool_after_fork(database: Database) -> None:
    """Register ``after_fork`` for forked children (weakly: the Database may go away)."""
    if not hasattr(os, "register_at_fork"):
        return
    ref = weakref.ref(database)

    def _child() -> None:
        db = ref()
        if db is not None:
            db.after_fork()

    os.register_at_fork(after_in_child=_child)


def _sqlite_file_exists(url: sa.URL) -> bool:
    """True for an in-memory SQLite database or one whose file exists (connecting would create it)."""
    path = url.database
    return not path or path == ":memory:" or os.path.exists(path)
