"""``dagflow users …`` (SPEC §6): create, list, reset-password, create-token (printed once), revoke-token, delete."""

from __future__ import annotations

from collections.abc import Callable

from dagflow.db import Database
from dagflow.services import users
from tests.unit.cli.conftest import CliResult


def test_users_lifecycle(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    created = run_cli("users", "create", "--username", "ana", "--role", "op", "--password-stdin", input="s3cret-pw\n")
    assert created.exit_code == 0, created.stderr
    assert users.authenticate(cli_db, "ana", "s3cret-pw").role == "op"

    listed = run_cli("users", "list", "--output", "json").json()
    assert [(u["username"], u["role"], u["is_active"]) for u in listed] == [("ana", "op", True)]
    assert "password_hash" not in listed[0] and "argon2" not in str(listed)

    issued = run_cli("users", "create-token", "ana", "--name", "ci")
    assert issued.exit_code == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("dgf_") and users.user_for_token(cli_db, token).username == "ana"
    (row,) = run_cli("users", "list-tokens", "ana", "--output", "json").json()
    assert row["name"] == "ci" and token not in issued.stderr

    assert run_cli("users", "revoke-token", str(row["id"])).exit_code == 0
    assert run_cli("users", "reset-password", "ana", "--password-stdin", input="n3w-password\n").exit_code == 0
    assert users.authenticate(cli_db, "ana", "n3w-password").username == "ana"
    assert run_cli("users", "delete", "ana").exit_code == 0
    assert run_cli("users", "list", "--output", "json").json() == []


def test_bad_input_is_one_line(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    bad_role = run_cli(
        "users", "create", "--username", "x", "--role", "root", "--password-stdin", input="long-enough\n"
    )
    short = run_cli("users", "create", "--username", "x", "--role", "viewer", "--password-stdin", input="short\n")
    bad_name = run_cli(
        "users", "create", "--username", "a b", "--role", "viewer", "--password-stdin", input="long-enough\n"
    )
    missing = run_cli("users", "delete", "nobody")

    assert bad_role.exit_code == 2
    assert short.exit_code == 2 and "at least 8 characters" in short.stderr
    assert bad_name.exit_code == 2 and "invalid username" in bad_name.stderr
    assert missing.exit_code == 1 and missing.stderr.strip() == "Error: user 'nobody' not found"
    run_cli("users", "create", "--username", "x", "--role", "viewer", "--password-stdin", input="long-enough\n")
    again = run_cli("users", "create", "--username", "x", "--role", "viewer", "--password-stdin", input="long-enough\n")
    assert again.exit_code == 1 and "exists already" in again.stderr
