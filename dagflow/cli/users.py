"""``dagflow users …``: create, list, delete, reset-password, create-token, revoke-token (SPEC §6)."""

from __future__ import annotations

import sys

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_rows, output_option
from dagflow.models.user import ROLES

USER_COLUMNS = ["username", "role", "is_active", "created_at", "password_changed_at"]
TOKEN_COLUMNS = ["id", "username", "name", "created_at", "expires_at", "last_used_at", "revoked_at"]


@click.group()
def users() -> None:
    """Manage the users of the web UI and REST API, and their API tokens."""


def _read_password(password_stdin: bool) -> str:
    """The new password: one line from stdin, or typed twice at a terminal."""
    if password_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise click.UsageError("no password on stdin")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@users.command("create")
@click.option("--username", "-u", required=True, help="The login name.")
@click.option("--role", "-r", required=True, type=click.Choice(ROLES), help="admin, op or viewer.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else it is prompted for).")
@pass_state
def create(state: CliState, username: str, role: str, password_stdin: bool) -> None:
    """Create a user."""
    from dagflow.services.users import create_user

    user = create_user(state.db, username, _read_password(password_stdin), role)
    click.echo(f"User {user.username!r} created with role {user.role}.")


@users.command("list")
@output_option
@pass_state
def list_users(state: CliState, fmt: str) -> None:
    """List users."""
    from dataclasses import asdict

    from dagflow.services.users import list_users as service

    rows = [{k: v for k, v in asdict(u).items() if k in USER_COLUMNS} for u in service(state.db)]
    emit_rows(rows, USER_COLUMNS, fmt)


@users.command("delete")
@click.argument("username")
@pass_state
def delete(state: CliState, username: str) -> None:
    """Delete a user and its API tokens."""
    from dagflow.services.users import delete_user

    delete_user(state.db, username)
    click.echo(f"User {username!r} deleted.")


@users.command("reset-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (else it is prompted for).")
@pass_state
def reset_password(state: CliState, username: str, password_stdin: bool) -> None:
    """Set a user's password; its API tokens and web sessions stop working."""
    from dagflow.services.users import reset_password as service

    service(state.db, username, _read_password(password_stdin))
    click.echo(f"Password of {username!r} changed; its tokens and sessions are revoked.")


@users.command("create-token")
@click.argument("username")
@click.option("--name", "-n", default="cli", show_default=True, help="A name to recognise the token by.")
@pass_state
def create_token(state: CliState, username: str, name: str) -> None:
    """Create a long-lived API token; it is printed once (only its hash is kept)."""
    from dagflow.services.users import issue_token

    issued = issue_token(state.db, username, name=name)
    click.echo(f"Token {issued.id} for {username!r} (send it as 'Authorization: Bearer <token>'):", err=True)
    click.echo(issued.token)


@users.command("list-tokens")
@click.argument("username", required=False)
@output_option
@pass_state
def list_tokens(state: CliState, username: str | None, fmt: str) -> None:
    """List API tokens (of one user); the tokens themselves cannot be shown."""
    from dataclasses import asdict

    from dagflow.services.users import list_tokens as service

    emit_rows([asdict(t) for t in service(state.db, username)], TOKEN_COLUMNS, fmt)


@users.command("revoke-token")
@click.argument("token_id", type=int)
@pass_state
def revoke_token(state: CliState, token_id: int) -> None:
    """Revoke an API token for good."""
    from dagflow.services.users import revoke_token as service

    token = service(state.db, token_id)
    click.echo(f"Token {token.id} ({token.name!r} of {token.username!r}) revoked.")
