"""``dagflow db …``: migrate, reset, check and clean the metadata database."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from dagflow.cli.params import LOGICAL_DATE

if TYPE_CHECKING:
    from dagflow.db import Database
    from dagflow.services.db_clean import CleanReport


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


@db.command()
@click.option(
    "--clean-before-timestamp",
    "before",
    required=True,
    type=LOGICAL_DATE,
    help="Purge what is older than this (ISO-8601; naive is UTC).",
)
@click.option("--tables", "-t", help="Comma-separated tables to clean (default: all; see --help).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option("--yes", "-y", is_flag=True, help="Confirm: the rows and log files are deleted for good.")
@click.option("--batch-size", type=click.IntRange(min=1), default=1000, show_default=True, help="Runs per transaction.")
@click.option("--verbose", "-v", is_flag=True, help="Print the running totals after each batch.")
def clean(before: datetime, tables: str | None, dry_run: bool, yes: bool, batch_size: int, verbose: bool) -> None:
    """Purge old DAG runs with their task instances, try history, XComs, task maps, SLA misses and task logs
    (each DAG's newest scheduled run is kept) and ended jobs; in batches."""
    from dagflow.config import load_settings
    from dagflow.services.db_clean import clean as service

    if not yes and not dry_run:
        raise _NotConfirmed("db clean deletes rows and log files for good; pass --yes (or --dry-run to count)")
    chosen = [name.strip() for name in tables.split(",") if name.strip()] if tables else None
    obj = click.get_current_context().obj
    settings = getattr(obj, "settings", None) or load_settings()

    def progress(report: CleanReport) -> None:
        if verbose:
            click.echo(f"batch {report.batches}: " + _totals(report), err=True)

    report = service(
        settings, _database(), before=before, tables=chosen, dry_run=dry_run, batch_size=batch_size, on_batch=progress
    )
    verb = "Would delete" if dry_run else "Deleted"
    click.echo(f"{verb} (older than {before.isoformat()}): {_totals(report) or 'nothing'}")


def _totals(report: CleanReport) -> str:
    return ", ".join(f"{table} {count}" for table, count in sorted(report.counts.items()) if count)
