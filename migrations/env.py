"""Alembic environment for dagflow's metadata database (SQLite and PostgreSQL).

Run programmatically by ``dagflow.db.Database.migrate()``, which passes an open
connection in ``config.attributes["connection"]``. Run from the command line
(``alembic -c migrations/alembic.ini …``), it reads the URL from dagflow's settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dagflow.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate through the given connection, or through a fresh one from the settings."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from dagflow.config import load_settings
    from dagflow.db import Database

    database = Database(load_settings())
    with database.migration_connection() as fresh:
        _run(fresh)


def run_offline() -> None:
    """Emit SQL for the settings' database instead of running it."""
    from dagflow.config import load_settings
    from dagflow.db import normalize_url

    url = normalize_url(load_settings().database.sql_alchemy_conn)
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
