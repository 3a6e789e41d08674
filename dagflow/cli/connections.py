"""``dagflow connections add|get|list|delete``: how tasks reach external systems."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option

LIST_COLUMNS = ["conn_id", "conn_type", "host", "port", "schema", "login", "description"]
show_password_option = click.option("--show-password", is_flag=True, help="Print passwords instead of ***.")


@click.group()
def connections() -> None:
    """Add, show, list and delete connections."""


@connections.command("add")
@click.argument("conn_id")
@click.option("--conn-uri", help="The whole connection as a URI: type://login:password@host:port/schema?extra.")
@click.option("--conn-type", help="The connection type (instead of --conn-uri).")
@click.option("--conn-host")
@click.option("--conn-login")
@click.option("--conn-password")
@click.option("--conn-schema")
@click.option("--conn-port", type=click.IntRange(min=0, max=65535))
@click.option("--conn-extra", help="Extra options as a JSON object.")
@click.option("--conn-description", help="What the connection is for.")
@pass_state
def add(
    state: CliState,
    conn_id: str,
    conn_uri: str | None,
    conn_type: str | None,
    conn_host: str | None,
    conn_login: str | None,
    conn_password: str | None,
    conn_schema: str | None,
    conn_port: int | None,
    conn_extra: str | None,
    conn_description: str | None,
) -> None:
    """Add a connection, from --conn-uri or from --conn-type and the other --conn-* fields."""
    from dagflow.services import connections as service

    fields = {
        "host": conn_host,
        "login": conn_login,
        "password": conn_password,
        "schema": conn_schema,
        "port": conn_port,
        "extra": conn_extra,
    }
    if conn_uri and (conn_type or any(v is not None for v in fields.values())):
        raise click.UsageError("give either --conn-uri or --conn-type with --conn-* fields, not both")
    if not conn_uri and not conn_type:
        raise click.UsageError("give --conn-uri or --conn-type")
    try:
        if conn_uri:
            conn = service.connection_from_uri(conn_id, conn_uri, description=conn_description)
        else:
            conn = service.connection_from_fields(
                conn_id, {**fields, "conn_type": conn_type, "description": conn_description}
            )
    except service.InvalidConnection as exc:
        raise click.BadParameter(str(exc), param_hint="--conn-uri" if conn_uri else "--conn-extra") from exc
    added = service.add_connection(state.db, conn)
    click.echo(f"Connection {conn_id!r} added: {added.uri}")


@connections.command("get")
@click.argument("conn_id")
@show_password_option
@output_option
@pass_state
def get(state: CliState, conn_id: str, show_password: bool, fmt: str) -> None:
    """Show one connection (password masked unless --show-password)."""
    from dagflow.services.connections import get_connection

    emit_document(get_connection(state.db, conn_id, show_password=show_password).to_dict(), fmt)


@connections.command("list")
@click.option("--conn-id", help="Only this connection.")
@show_password_option
@output_option
@pass_state
def list_connections(state: CliState, conn_id: str | None, show_password: bool, fmt: str) -> None:
    """List connections (passwords masked unless --show-password)."""
    from dagflow.services.connections import list_connections as service

    rows = [r.to_dict() for r in service(state.db, show_password=show_password) if conn_id in (None, r.conn_id)]
    columns = [*LIST_COLUMNS, "password"] if show_password else LIST_COLUMNS
    emit_rows(rows, columns, fmt)


@connections.command("delete")
@click.argument("conn_id")
@pass_state
def delete(state: CliState, conn_id: str) -> None:
    """Delete a connection."""
    from dagflow.services.connections import delete_connection

    delete_connection(state.db, conn_id)
    click.echo(f"Connection {conn_id!r} deleted.")
