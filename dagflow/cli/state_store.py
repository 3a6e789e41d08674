"""``dagflow state-store get|set|delete|list|purge-expired``: JSON values that outlive a run."""

from __future__ import annotations

import json
from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_rows, output_option, to_json

namespace_option = click.option(
    "--namespace", "-n", default="default", show_default=True, help="The namespace of the key."
)


@click.group("state-store")
def state_store() -> None:
    """Read and write the state store (values shared across runs and DAGs)."""


@state_store.command("get")
@click.argument("key")
@namespace_option
@pass_state
def get_value(state: CliState, key: str, namespace: str) -> None:
    """Print a value as JSON (exit 1 if the key does not exist)."""
    from dagflow.services.state_store import get_value as service

    click.echo(to_json(service(state.db, key, namespace=namespace)))


@state_store.command("set")
@click.argument("key")
@click.argument("value")
@namespace_option
@click.option(
    "--expected-version",
    type=click.IntRange(min=0),
    help="Compare-and-set: write only if the key is at this version (0: it must not exist); exit 1 otherwise.",
)
@click.option("--ttl", type=float, help="Seconds until the key expires (an expired key reads as missing).")
@pass_state
def set_value(
    state: CliState, key: str, value: str, namespace: str, expected_version: int | None, ttl: float | None
) -> None:
    """Store VALUE under KEY: parsed as JSON when it is JSON, else stored as a string."""
    from dagflow.services.state_store import set_value as service

    version = service(
        state.db, key, parse_value(value), namespace=namespace, expected_version=expected_version, ttl=ttl
    )
    click.echo(f"Stored {namespace}/{key} (version {version}).")


def parse_value(text: str) -> Any:
    """JSON when ``text`` is JSON (``42``, ``{"a": 1}``, ``"x"``), else the text itself."""
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:  # not JSON (JSONDecodeError), or NaN/Infinity, which JSON values exclude
        return text


def _no_constant(name: str) -> Any:
    raise ValueError(name)


@state_store.command("delete")
@click.argument("key")
@namespace_option
@pass_state
def delete_value(state: CliState, key: str, namespace: str) -> None:
    """Delete a key (exit 1 if it does not exist)."""
    from dagflow.services.state_store import delete_value as service

    service(state.db, key, namespace=namespace)
    click.echo(f"Deleted {namespace}/{key}.")


@state_store.command("list")
@click.option("--namespace", "-n", help="Only this namespace.")
@click.option("--prefix", default="", help="Only keys starting with this.")
@output_option
@pass_state
def list_values(state: CliState, namespace: str | None, prefix: str, fmt: str) -> None:
    """List keys with their values, versions and expiry (expired keys are left out)."""
    from dagflow.services.state_store import list_values as service

    rows = [
        {
            "namespace": e.namespace,
            "key": e.key,
            "value": e.value,
            "version": e.version,
            "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        }
        for e in service(state.db, namespace=namespace, prefix=prefix)
    ]
    if fmt != "json":
        rows = [{**r, "value": json.dumps(r["value"]), "expires_at": r["expires_at"] or ""} for r in rows]
    emit_rows(rows, ["namespace", "key", "value", "version", "expires_at"], fmt)


@state_store.command("purge-expired")
@click.option("--namespace", "-n", help="Only this namespace.")
@click.option("--dry-run", is_flag=True, help="Only count the expired rows.")
@pass_state
def purge_expired(state: CliState, namespace: str | None, dry_run: bool) -> None:
    """Delete the rows of expired keys (reads never show them; ``db clean --tables state_store`` does it too)."""
    from dagflow.services.state_store import purge_expired as service

    purged = service(state.db, namespace=namespace, dry_run=dry_run)
    where = f" in namespace {namespace!r}" if namespace else ""
    click.echo(f"{'Would purge' if dry_run else 'Purged'} {purged} expired key(s){where}.")
