"""``dagflow dags …``: list, show and test DAGs."""

from __future__ import annotations

from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option, to_json
from dagflow.cli.params import JSON_OBJECT, LOGICAL_DATE


@click.group()
def dags() -> None:
    """List, show, test and run DAGs."""


@dags.command("list")
@output_option
@click.option("--no-parse", is_flag=True, help="Only show what the DB holds; do not read DAG files.")
@pass_state
def list_dags(state: CliState, fmt: str, no_parse: bool) -> None:
    """List the DAGs dagflow knows about."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services import dags as service
    from dagflow.services.reports import iso

    if not no_parse:
        refresh(state.settings, state.db)
    rows = [
        {
            "dag_id": d.dag_id,
            "is_paused": d.is_paused,
            "fileloc": d.fileloc,
            "schedule": d.schedule,
            "tags": list(d.tags),
            "owners": ", ".join(d.owners) or None,
            "has_import_errors": d.has_import_errors,
            "next_dagrun": iso(d.next_dagrun),
        }
        for d in service.list_dags(state.db)
    ]
    emit_rows(rows, ["dag_id", "is_paused", "schedule", "fileloc", "tags"], fmt)


@dags.command("list-import-errors")
@output_option
@pass_state
def list_import_errors(state: CliState, fmt: str) -> None:
    """List DAG files that failed to import, with the line and the error."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services import dags as service
    from dagflow.services.reports import iso

    refresh(state.settings, state.db)
    rows = [
        {"filename": e.filename, "lineno": e.lineno, "message": e.message, "timestamp": iso(e.timestamp)}
        for e in service.list_import_errors(state.db)
    ]
    emit_rows(rows, ["filename", "lineno", "message", "timestamp"], fmt)


@dags.command("show")
@click.argument("dag_id")
@output_option
@pass_state
def show(state: CliState, dag_id: str, fmt: str) -> None:
    """Show a DAG's tasks and their dependencies."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services import dags as service

    refresh(state.settings, state.db)
    doc = service.show_dag(state.db, dag_id).to_dict()
    if fmt == "json":
        click.echo(to_json(doc))
        return
    emit_document({k: v for k, v in doc.items() if k != "tasks"}, fmt)
    emit_rows(doc["tasks"], ["task_id", "operator", "trigger_rule", "downstream"], fmt)


@dags.command("test")
@click.argument("dag_id")
@click.argument("logical_date", required=False, type=LOGICAL_DATE)
@click.option("--conf", "-c", type=JSON_OBJECT, help="JSON object passed as the run's conf.")
@output_option
@pass_state
def test(state: CliState, dag_id: str, logical_date: Any, conf: dict[str, Any] | None, fmt: str) -> None:
    """Run one DAG run in this process, without a scheduler; exit 1 if it fails."""
    from dagflow.cli.dag_files import load_dag
    from dagflow.services.dag_test import test_dag
    from dagflow.services.database import ensure_schema

    ensure_schema(state.db)
    dag = load_dag(state.settings, state.db, dag_id)
    states = test_dag(
        state.settings,
        state.db,
        dag,
        logical_date=logical_date,
        conf=conf,
        on_event=None if fmt == "json" else _print_event,
    )
    report = states.to_dict()
    if fmt == "json":
        click.echo(to_json(report))
    else:
        emit_document(
            report,
            fmt,
            table_rows="task_instances",
            columns=["task_id", "map_index", "state", "try_number", "end_reason"],
        )
    if report["state"] != "success":
        click.get_current_context().exit(1)


def _print_event(workload: Any, event: Any) -> None:
    state = event.state.value if event.state is not None else "not run"
    click.echo(f"{workload.key}: {state}" + (f" ({event.info})" if event.info else ""), err=True)
