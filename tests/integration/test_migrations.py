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
