"""``dagflow pools set|get|list|delete``: named slot limits for task instances."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_rows, output_option

COLUMNS = ["pool", "slots", "running", "queued", "open_slots", "description"]


@click.group()
def pools() -> None:
    """Create, resize, list and delete pools."""


@pools.command("set", context_settings={"ignore_unknown_options": True})  # SLOTS may be -1
@click.argument("name")
@click.argument("slots", type=click.IntRange(min=-1))
@click.argument("description_arg", metavar="[DESCRIPTION]", required=False)
@click.option("--description", help="What the pool is for.")
@output_option
@pass_state
def set_pool(
    state: CliState, name: str, slots: int, description_arg: str | None, description: str | None, fmt: str
) -> None:
    """Create a pool or change its slots, -1 for unlimited (Airflow's positional DESCRIPTION also works)."""
    from dagflow.services.pools import set_pool as service

    emit_rows([service(state.db, name, slots, description=description or description_arg).to_dict()], COLUMNS, fmt)


@pools.command("get")
@click.argument("name")
@output_option
@pass_state
def get_pool(state: CliState, name: str, fmt: str) -> None:
    """Show one pool and how many of its slots are used."""
    from dagflow.services.pools import get_pool as service

    emit_rows([service(state.db, name).to_dict()], COLUMNS, fmt)


@pools.command("list")
@output_option
@pass_state
def list_pools(state: CliState, fmt: str) -> None:
    """List the pools with their slots and usage."""
    from dagflow.services.pools import list_pools as service

    emit_rows([p.to_dict() for p in service(state.db)], COLUMNS, fmt)


@pools.command("delete")
@click.argument("name")
@pass_state
def delete_pool(state: CliState, name: str) -> None:
    """Delete a pool (not default_pool)."""
    from dagflow.services.pools import delete_pool as service

    service(state.db, name)
    click.echo(f"Pool {name!r} deleted.")
