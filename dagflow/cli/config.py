"""``dagflow config get-value SECTION KEY | list``: the effective configuration (Airflow's verbs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import to_json

#: Values that are secrets (or may hold one): ``config list --hide-sensitive`` prints ``< hidden >``.
SENSITIVE: frozenset[tuple[str, str]] = frozenset(
    {
        ("core", "fernet_key"),
        ("database", "sql_alchemy_conn"),
        ("celery", "broker_url"),
        ("webserver", "secret_key"),
        ("storage", "url"),
    }
)
HIDDEN = "< hidden >"


class _UnknownOption(click.ClickException):
    """A section or key that dagflow does not have (exit 2: a bad argument)."""

    exit_code = 2


@click.group()
def config() -> None:
    """Show the effective configuration (defaults < dagflow.toml < DAGFLOW__SECTION__KEY)."""


@config.command("get-value")
@click.argument("section")
@click.argument("key")
@pass_state
def get_value(state: CliState, section: str, key: str) -> None:
    """Print one value, as dagflow uses it."""
    values = effective(state)
    if section not in values or key not in values[section]:
        raise _UnknownOption(f"The option [{section}/{key}] is not found in config.")
    click.echo(_text(values[section][key]))


@config.command("list")
@click.option("--section", help="Only this section.")
@click.option("--hide-sensitive", is_flag=True, help=f"Print {HIDDEN} for secrets (keys, passwords in URLs).")
@click.option("--output", "-o", "fmt", type=click.Choice(["toml", "json"]), default="toml", show_default=True)
@pass_state
def list_config(state: CliState, section: str | None, hide_sensitive: bool, fmt: str) -> None:
    """Print every section and key with its effective value, in dagflow.toml's format."""
    values = effective(state)
    if section is not None:
        if section not in values:
            raise _UnknownOption(f"The section [{section}] is not found in config.")
        values = {section: values[section]}
    if hide_sensitive:
        values = {
            name: {key: HIDDEN if (name, key) in SENSITIVE and value else value for key, value in keys.items()}
            for name, keys in values.items()
        }
    if fmt == "json":
        click.echo(to_json(values))
        return
    blocks = []
    for name, keys in values.items():
        lines = [f"[{name}]"] + [f"{key} = {_toml(value)}" for key, value in keys.items()]
        blocks.append("\n".join(lines))
    click.echo("\n\n".join(blocks))


def effective(state: CliState) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` of the loaded settings (``home`` under ``core``)."""
    settings = state.settings
    values: dict[str, dict[str, Any]] = {}
    for section in dataclasses.fields(settings):
        if section.name == "home":
            continue
        obj = getattr(settings, section.name)
        values[section.name] = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    values["core"] = {"dagflow_home": settings.home, **values["core"]}
    return values


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
