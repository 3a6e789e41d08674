"""``dagflow assets list|events|materialize``: the assets DAGs produce and are scheduled on."""

from __future__ import annotations

from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option
from dagflow.cli.params import JSON_OBJECT

ASSET_COLUMNS = ["uri", "consuming_dags", "producing_tasks", "queued_for", "event_count", "last_event_at"]
EVENT_COLUMNS = ["id", "uri", "timestamp", "source_dag_id", "source_task_id", "source_run_id", "extra"]


@click.group()
def assets() -> None:
    """List assets and their events; record an event or run the DAG that produces an asset."""


@assets.command("list")
@click.option("--uri-pattern", help="Only assets whose URI contains this text.")
@output_option
@pass_state
def list_assets(state: CliState, uri_pattern: str | None, fmt: str) -> None:
    """List assets with the DAGs scheduled on them and the tasks that produce them."""
    from dagflow.services.assets import list_assets as service

    rows = [_listed(a.as_dict(), fmt) for a in service(state.db, uri_pattern=uri_pattern)]
    emit_rows(rows, ASSET_COLUMNS, fmt)


@assets.command("events")
@click.option("--uri", help="Only the events of this asset.")
@click.option("--dag-id", "source_dag_id", help="Only the events recorded by tasks of this DAG.")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many events.")
@output_option
@pass_state
def list_events(state: CliState, uri: str | None, source_dag_id: str | None, limit: int, fmt: str) -> None:
    """List asset events, newest first."""
    from dagflow.services.assets import event_dict, list_asset_events

    events = list_asset_events(state.db, uri=uri, source_dag_id=source_dag_id, limit=limit)
    emit_rows([event_dict(e) for e in events], EVENT_COLUMNS, fmt)


@assets.command("create-event")
@click.argument("uri")
@click.option("--extra", type=JSON_OBJECT, help="JSON object stored with the event.")
@output_option
@pass_state
def create_event(state: CliState, uri: str, extra: dict[str, Any] | None, fmt: str) -> None:
    """Record an event for an asset by hand: the DAGs scheduled on it are queued as if a task produced it."""
    from dagflow.services.assets import create_asset_event, event_dict

    emit_document(event_dict(create_asset_event(state.db, uri, extra=extra)), fmt)


@assets.command("materialize")
@click.argument("uri")
@output_option
@pass_state
def materialize(state: CliState, uri: str, fmt: str) -> None:
    """Trigger a run of the one DAG whose tasks produce the asset (Airflow 3's ``assets materialize``)."""
    from dagflow.services.assets import producing_tasks
    from dagflow.services.dag_runs import trigger_dag

    dag_ids = sorted({dag_id for dag_id, _ in producing_tasks(state.db, uri)})
    if len(dag_ids) != 1:
        found = ", ".join(dag_ids) if dag_ids else "none"
        raise click.UsageError(f"asset {uri!r} must be produced by exactly one DAG to materialize it (found: {found})")
    from dagflow.cli.dags_runs import created_document

    emit_document(created_document(trigger_dag(state.settings, state.db, dag_ids[0])), fmt)


def _listed(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Lists joined with commas for table and plain output."""
    if fmt == "json":
        return row
    return {key: ", ".join(value) if isinstance(value, list) else value for key, value in row.items()}
