"""``dagflow variables set|get|list|delete``: global values read by DAGs as ``var.value.X``."""

from __future__ import annotations

import json
from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_rows, output_option, to_json


@click.group()
def variables() -> None:
    """Set, get, list and delete variables."""


@variables.command("set")
@click.argument("key")
@click.argument("value")
@click.option(
    "--json",
    "-j",
    "--serialize-json",
    "as_json",
    is_flag=True,
    help="VALUE is JSON: check it and store it as JSON (read with var.json.KEY).",
)
@click.option("--description", help="What the variable is for.")
@pass_state
def set_variable(state: CliState, key: str, value: str, as_json: bool, description: str | None) -> None:
    """Create or replace a variable."""
    from dagflow.services.variables import set_variable as service

    parsed: Any = value
    if as_json:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint="VALUE") from exc
    service(state.db, key, parsed, serialize_json=as_json, description=description)
    click.echo(f"Variable {key!r} set.")


@variables.command("get")
@click.argument("key")
@click.option("--json", "-j", "--deserialize-json", "as_json", is_flag=True, help="Parse the value as JSON.")
@click.option("--default", "-d", "default", help="Print this when the variable does not exist.")
@pass_state
def get_variable(state: CliState, key: str, as_json: bool, default: str | None) -> None:
    """Print a variable's value (exit 1 if it does not exist and no --default is given)."""
    from dagflow.services.variables import get_variable as service

    kwargs = {} if default is None else {"default": default}
    value = service(state.db, key, deserialize_json=as_json, **kwargs)
    click.echo(to_json(value) if as_json and value is not default else value)


@variables.command("list")
@output_option
@pass_state
def list_variables(state: CliState, fmt: str) -> None:
    """List the variables' keys (values are not shown, as in Airflow)."""
    from dagflow.services.variables import list_variables as service

    rows = [{"key": v.key, "description": v.description} for v in service(state.db)]
    emit_rows(rows, ["key", "description"], fmt)


@variables.command("delete")
@click.argument("key")
@pass_state
def delete_variable(state: CliState, key: str) -> None:
    """Delete a variable."""
    from dagflow.services.variables import delete_variable as service

    service(state.db, key)
    click.echo(f"Variable {key!r} deleted.")
