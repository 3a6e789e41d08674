"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from dagflow.config import load_settings
from dagflow.db import Database, migrations_dir
from dagflow.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A brand-new, never migrated database."""
    env = {"DAGFLOW_HOME": str(tmp_path)}
    if request.param == "postgres":
        make_pg_database: Callable[[], str] = request.getfixturevalue("make_pg_database")
        env["DAGFLOW__DATABASE__SQL_ALCHEMY_CONN"] = make_pg_database()
    database = Database(load_settings(env))
    yield database
    database.dispose()


def _diffs(database: Database) -> list[object]:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, Base.metadata))


def _tables(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(sa.inspect(connection).get_table_names())


def test_migrated_schema_matches_the_models(empty_db: Database) -> None:
    assert _tables(empty_db) == set()
    empty_db.migrate()
    assert _tables(empty_db) == set(Base.metadata.tables) | {"alembic_version"}
    assert _diffs(empty_db) == []
    assert "head" in empty_db.check()


def test_downgrade_to_base_and_up_again(empty_db: Database) -> None:
    empty_db.migrate()
    with empty_db.migration_connection() as connection:
        command.downgrade(empty_db.alembic_config(connection), "base")
    assert _tables(empty_db) == {"alembic_version"}
    assert empty_db.current_revision() is None
    empty_db.migrate()
    assert _diffs(empty_db) == []


def test_history_is_one_line_of_dated_files() -> None:
    folder = migrations_dir()
    script = ScriptDirectory(str(folder))
    assert len(script.get_heads()) == 1
    for path in (folder / "versions").glob("*.py"):
        assert re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{4}_[a-z0-9_]+\.py", path.name), path.name


def test_plain_secrets_survive_the_encryption_revision(empty_db: Database) -> None:
    """Rows written before ``is_encrypted`` existed stay readable; a downgrade refuses to strand tokens."""
    from dagflow.services.connections import get_connection
    from dagflow.services.secrets import rotate_fernet_key
    from dagflow.services.variables import get_variable

    with empty_db.migration_connection() as connection:
        command.upgrade(empty_db.alembic_config(connection), "0001")
    with empty_db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO connection (conn_id, conn_type, password, extra) "
                "VALUES ('old', 'http', 'old-password', '{\"token\":\"old-token\"}')"
            )
        )
        connection.execute(sa.text("INSERT INTO variable (key, val) VALUES ('old_secret', 'old-value')"))
    empty_db.migrate()
    assert get_variable(empty_db, "old_secret") == "old-value"
    shown = get_connection(empty_db, "old", show_password=True)
    assert (shown.password, shown.extra) == ("old-password", {"token": "old-token"})
    assert rotate_fernet_key(empty_db).encrypted == 3
    with empty_db.engine.connect() as connection:
        raw = repr(connection.execute(sa.text("SELECT * FROM connection")).all())
    assert "old-password" not in raw and "old-token" not in raw
    with pytest.raises(RuntimeError, match="2 connection/variable rows hold encrypted values"):
        with empty_db.migration_connection() as connection:
            command.downgrade(empty_db.alembic_config(connection), "0001")
    assert get_variable(empty_db, "old_secret") == "old-value"
