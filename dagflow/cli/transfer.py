"""``dagflow variables|pools|connections import FILE | export FILE``: Airflow's JSON files (``-``: stdin/stdout).

The formats are in ``dagflow/services/transfer.py``. An export holds secrets in clear
text (as Airflow's), so a file is written readable by its owner only (0600).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import to_json

file_argument = click.argument("file", type=click.Path(dir_okay=False, allow_dash=True))


def read_document(file: str) -> Any:
    """The JSON document in ``file`` (``-``: stdin); a missing file or bad JSON is a usage error (exit 2)."""
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {file}: {exc.strerror or exc}", param_hint="FILE") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(
            f"{file} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", param_hint="FILE"
        ) from exc


def write_document(file: str, document: Any) -> None:
    """Write ``document`` as JSON to ``file`` (0600) or stdout (``-``)."""
    from dagflow.private_files import write_private_text

    text = to_json(document) + "\n"
    if file == "-":
        click.echo(text, nl=False)
        return
    try:
        write_private_text(Path(file), text)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {file}: {exc.strerror or exc}", param_hint="FILE") from exc


def _say(file: str, text: str) -> None:
    click.echo(text, err=file == "-")  # keep stdout the document when exporting to it


@click.command("export")
@file_argument
@pass_state
def export_variables(state: CliState, file: str) -> None:
    """Write every variable to a JSON file: {"key": value} (JSON values as JSON)."""
    from dagflow.services.transfer import export_variables as service

    document = service(state.db)
    write_document(file, document)
    _say(file, f"{len(document)} variables successfully exported to {file}")


@click.command("import")
@file_argument
@click.option(
    "--action-on-existing-key",
    "-a",
    type=click.Choice(["overwrite", "fail", "skip"]),
    default="overwrite",
    show_default=True,
    help="What to do with a key that exists already.",
)
@pass_state
def import_variables(state: CliState, file: str, action_on_existing_key: str) -> None:
    """Create or replace variables from a JSON file: {"key": value, ...}."""
    from dagflow.services.transfer import import_variables as service

    document = read_document(file)
    report = service(state.db, document, on_existing=action_on_existing_key)
    click.echo(f"{len(report.written)} of {len(document)} variables successfully updated.")
    if report.skipped:
        click.echo(f"Skipped (they exist already): {', '.join(report.skipped)}")


@click.command("export")
@file_argument
@pass_state
def export_pools(state: CliState, file: str) -> None:
    """Write every pool to a JSON file: {"name": {"slots", "description", "include_deferred"}}."""
    from dagflow.services.transfer import export_pools as service

    document = service(state.db)
    write_document(file, document)
    _say(file, f"Exported {len(document)} pools to {file}")


@click.command("import")
@file_argument
@pass_state
def import_pools(state: CliState, file: str) -> None:
    """Create or update pools from a JSON file: {"name": {"slots": N, "description": "…"}}."""
    from dagflow.services.transfer import import_pools as service

    report = service(state.db, read_document(file))
    click.echo(f"Uploaded {len(report.written)} pool(s)")


@click.command("export")
@file_argument
@click.option("--file-format", type=click.Choice(["json"]), default="json", show_default=True)
@pass_state
def export_connections(state: CliState, file: str, file_format: str) -> None:
    """Write every connection (passwords in clear) to a JSON file: {"conn_id": {"conn_type", "host", …}}."""
    from dagflow.services.transfer import export_connections as service

    document = service(state.db)
    write_document(file, document)
    _say(file, f"Connections successfully exported to {file}.")


@click.command("import")
@file_argument
@click.option("--overwrite", is_flag=True, help="Replace connections whose id exists already (default: skip them).")
@pass_state
def import_connections(state: CliState, file: str, overwrite: bool) -> None:
    """Add connections from a JSON file: {"conn_id": {"conn_type": …} or "URI"}."""
    from dagflow.services.transfer import import_connections as service

    report = service(state.db, read_document(file), overwrite=overwrite)
    for conn_id in report.written:
        click.echo(f"Imported connection {conn_id}")
    for conn_id in report.skipped:
        click.echo(f"Could not import connection {conn_id}: connection already exists.", err=True)


def register() -> None:
    """Add ``import`` and ``export`` to the variables, pools and connections groups."""
    from dagflow.cli.connections import connections
    from dagflow.cli.pools import pools
    from dagflow.cli.variables import variables

    for group, commands in (
        (variables, (import_variables, export_variables)),
        (pools, (import_pools, export_pools)),
        (connections, (import_connections, export_connections)),
    ):
        for command in commands:
            group.add_command(command)
