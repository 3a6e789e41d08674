"""Shared fixtures. Database fixtures: ``settings``, ``db``, ``pg_url``, ``db_any``, ``make_pg_database``.

- ``settings``: a fresh ``DAGFLOW_HOME`` (tmp dir) with the default SQLite database.
- ``migrate_home``: a function giving a ``DAGFLOW_HOME`` a migrated SQLite file (commands
  never migrate on a read; subprocess tests on a fresh home call it first).
- ``db``: a migrated ``Database`` on that SQLite file (copied from a template migrated
  once per session, so it is cheap).
- ``pg_url``: a PostgreSQL database created (and migrated) once per test session and
  dropped at the end. Skips when PostgreSQL is unreachable, fails instead when
  ``DAGFLOW_REQUIRE_SERVICES=1``. The server is ``$DAGFLOW_TEST_PG_URL`` (any database
  on it; default ``postgresql+psycopg://root@127.0.0.1:5432/postgres``).
- ``db_any``: ``db`` parametrized over ``sqlite`` and ``postgres`` (tables emptied
  before each test, default pool restored).
- ``make_pg_database``: a factory for further empty PostgreSQL databases (dropped at
  the end of the session).

Throwaway servers (``tests/servers.py``), for tests that stop, kill or restart a server
or need a broker nobody else uses; never the machine's shared services:

- ``postgres_server``: the session's own PostgreSQL cluster (own port and data dir),
  running when the test starts; a test may stop, kill or restart it.
- ``redis_server``: a Redis server of the test's own, deleted after it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from dagflow.config import Settings, load_settings
from dagflow.db import Database
from dagflow.sdk.timezone import set_default_timezone
from tests.servers import PostgresServer, RedisServer, started

DEFAULT_PG_SERVER = "postgresql+psycopg://root@127.0.0.1:5432/postgres"


def _require_services() -> bool:
    return os.environ.get("DAGFLOW_REQUIRE_SERVICES") == "1"


def _settings_for(home: Path, url: str | None = None) -> Settings:
    # Tests use EmptyOperator as a cheap task that is queued and run; the ones about the
    # scheduler finishing it without running turn this back on (tests/acceptance run the default).
    env = {"DAGFLOW_HOME": str(home), "DAGFLOW__SCHEDULER__FINISH_EMPTY_OPERATORS": "false"}
    if url is not None:
        env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
    return load_settings(env)


@pytest.fixture(autouse=True)
def _sdk_default_timezone() -> Iterator[None]:
    """Each test starts and ends with the SDK reading naive DAG dates as UTC (in-process CLI calls set it)."""
    set_default_timezone("UTC")
    yield
    set_default_timezone("UTC")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a fresh DAGFLOW_HOME and the default SQLite database."""
    home = tmp_path / "dagflow_home"
    home.mkdir()
    return _settings_for(home)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, copied by ``db`` for each test."""
    home = tmp_path_factory.mktemp("sqlite_template")
    database = Database(_settings_for(home))
    database.migrate()
    database.dispose()  # the last connection to close checkpoints the WAL into the file
    return home / "dagflow.db"


@pytest.fixture
def migrate_home(_sqlite_template: Path) -> Callable[[Path], Path]:
    """Give a ``DAGFLOW_HOME`` (created if missing) a migrated SQLite database, as ``dagflow db migrate`` would."""

    def migrate(home: Path) -> Path:
        home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_sqlite_template, home / "dagflow.db")
        return home

    return migrate


@pytest.fixture
def db(settings: Settings, _sqlite_template: Path) -> Iterator[Database]:
    """A migrated ``Database`` on the test's own SQLite file."""
    shutil.copyfile(_sqlite_template, settings.home / "dagflow.db")
    database = Database(settings)
    yield database
    database.dispose()


# --- PostgreSQL -----------------------------------------------------------------------
def _admin_engine(server: str) -> sa.Engine:
    url = sa.make_url(server)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"connect_timeout": 3})


@pytest.fixture(scope="session")
def make_pg_database() -> Iterator[Callable[[], str]]:
    """Factory: create an empty PostgreSQL database and return its URL (dropped at session end)."""
    server = os.environ.get("DAGFLOW_TEST_PG_URL", DEFAULT_PG_SERVER)
    admin = _admin_engine(server)
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as err:
        admin.dispose()
        reason = f"PostgreSQL unreachable at {server}: {str(err.orig).splitlines()[0]}"
        if _require_services():
            pytest.fail(reason + " (DAGFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    created: list[str] = []

    def create() -> str:
        name = f"dagflow_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return admin.url.set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as connection:
        for name in created:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(make_pg_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a PostgreSQL database migrated to head, shared by the test session."""
    url = make_pg_database()
    database = Database(_settings_for(tmp_path_factory.mktemp("pg_home"), url))
    database.migrate()
    database.dispose()
    return url


def _empty_tables(database: Database) -> None:
    """Delete every row (the schema stays) and restore the default pool."""
    from dagflow.models import Base, Pool
    from dagflow.models.pool import DEFAULT_POOL_NAME, DEFAULT_POOL_SLOTS

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.transaction() as session:
        session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        session.add(Pool(name=DEFAULT_POOL_NAME, slots=DEFAULT_POOL_SLOTS, description="Default pool"))


@pytest.fixture
def pg_db(pg_url: str, tmp_path: Path) -> Iterator[Database]:
    """A ``Database`` on the session's PostgreSQL database, emptied for this test."""
    home = tmp_path / "dagflow_home_pg"
    home.mkdir()
    database = Database(_settings_for(home, pg_url))
    _empty_tables(database)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_any(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty ``Database``: once on SQLite, once on PostgreSQL."""
    name = "db" if request.param == "sqlite" else "pg_db"
    database: Database = request.getfixturevalue(name)
    return database


# --- throwaway servers ------------------------------------------------------------------
@pytest.fixture(scope="session")
def _postgres_server_session() -> Iterator[PostgresServer]:
    with started(PostgresServer) as server:
        yield server


@pytest.fixture
def postgres_server(_postgres_server_session: PostgresServer) -> PostgresServer:
    """The session's throwaway PostgreSQL server, running; the test may stop, kill or restart it."""
    return _postgres_server_session.start()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A throwaway Redis server of this test's own (stopped and deleted after it)."""
    with started(RedisServer) as server:
        yield server
