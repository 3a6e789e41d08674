"""CLI commands that change something are recorded in the audit event log as done by the OS user."""

from __future__ import annotations

from dagflow.db import Database
from dagflow.services import events
from dagflow.services.actor import current_actor, os_user
from dagflow.services.events import EventFilter
from dagflow.services.listing import Slice


def test_cli_changes_name_the_os_user(run_cli, cli_db: Database) -> None:
    assert run_cli("pools", "set", "etl", "2").exit_code == 0
    assert run_cli("variables", "set", "api_token", "s3cr3t-value").exit_code == 0
    assert run_cli("pools", "list").exit_code == 0  # a read records nothing

    recorded = events.query_events(cli_db, EventFilter(), Slice(order_by=("id",))).items
    assert [(e.event, e.actor, e.extra) for e in recorded] == [
        ("set_pool", os_user(), {"pool": "etl", "slots": 2}),
        ("set_variable", os_user(), {"key": "api_token"}),
    ]
    assert current_actor() is None  # the command put it back when it ended
