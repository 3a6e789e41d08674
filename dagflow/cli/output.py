"""Printing lists and documents as ``table`` (rich), ``json`` or ``plain`` text."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click

FORMATS = ("table", "json", "plain")

output_option = click.option(
    "--output",
    "-o",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="How to print the result.",
)


def to_json(value: Any) -> str:
    """JSON text with datetimes as ISO-8601 strings."""
    return json.dumps(value, indent=2, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def emit_rows(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], fmt: str) -> None:
    """Print rows as a table, a JSON list or tab-separated plain text."""
    if fmt == "json":
        click.echo(to_json([dict(r) for r in rows]))
        return
    if fmt == "plain":
        for row in rows:
            click.echo("\t".join(_cell(row.get(c)) for c in columns))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False, header_style="bold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(soft_wrap=True, width=240)  # piped: never truncate ids and paths
    console.print(table)


def emit_document(
    doc: Mapping[str, Any], fmt: str, *, table_rows: str | None = None, columns: Sequence[str] = ()
) -> None:
    """Print one object: JSON as is; table/plain as its scalar fields plus an optional row list."""
    if fmt == "json":
        click.echo(to_json(doc))
        return
    for key, value in doc.items():
        if key != table_rows:
            click.echo(f"{key}: {_cell(value)}")
    if table_rows:
        emit_rows(doc.get(table_rows) or [], columns, fmt)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return ", ".join(str(v) for v in value)
    return str(value)
