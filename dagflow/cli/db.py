"""``dagflow db …``: migrate, reset and check the metadata database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from dagflow.db import Database


def _database() -> Database:
    """The ``Database`` from the CLI state object when there is one, else from the settings."""
    obj = click.get_current_context().obj
    found = getattr(obj, "db", None)
    if found is not None:
        return found  # type: ignore[no-any-return]
    from dagflow.config import load_settings
    from dagflow.db import Database

    settings = getattr(obj, "settings", None) or load_settings()
    return Database(settings)


class _NotConfirmed(click.ClickException):
    """A destructive command run without ``--yes`` (exit 2, one line)."""

    exit_code = 2


@click.group()
def db() -> None:
    """Create, upgrade, reset and check the metadata database."""


@db.command()
def migrate() -> None:
    """Create the schema or upgrade it to the newest revision."""
    database = _database()
    database.migrate()
    click.echo(f"Database migrated to revision {database.head_revision()}.")


@db.command()
@click.option("--yes", is_flag=True, help="Confirm: every table and all their rows are dropped.")
def reset(yes: bool) -> None:
    """Drop everything in the metadata database and migrate it again."""
    if not yes:
        raise _NotConfirmed("db reset drops every table and all their data; pass --yes to confirm")
    database = _database()
    database.reset()
    click.echo(f"Database reset and migrated to revision {database.head_revision()}.")


@db.command()
def check() -> None:
    """Check that the database is reachable and at the newest revision (exit 1 otherwise)."""
    click.echo(_database().check())
