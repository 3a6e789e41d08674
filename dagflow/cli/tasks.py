"""``dagflow tasks …``: list, test and inspect task instances."""

from __future__ import annotations

from typing import Any

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option, to_json
from dagflow.cli.params import LOGICAL_DATE


@click.group()
def tasks() -> None:
    """List, test and inspect tasks and task instances."""


@tasks.command("list")
@click.argument("dag_id")
@output_option
@pass_state
def list_tasks(state: CliState, dag_id: str, fmt: str) -> None:
    """List a DAG's tasks in dependency order."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services import dags as service

    refresh(state.settings, state.db)
    doc = service.show_dag(state.db, dag_id).to_dict()
    emit_rows(doc["tasks"], ["task_id", "operator", "upstream"], fmt)


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date", required=False, type=LOGICAL_DATE)
@output_option
@pass_state
def test(state: CliState, dag_id: str, task_id: str, logical_date: Any, fmt: str) -> None:
    """Run one task once, ignoring its dependencies; print its log; exit 1 if it fails."""
    from dagflow.cli.dag_files import load_dag
    from dagflow.services.database import ensure_schema
    from dagflow.services.task_test import test_task

    ensure_schema(state.db)
    dag = load_dag(state.settings, state.db, dag_id)
    result = test_task(state.settings, state.db, dag, task_id, logical_date=logical_date)
    if fmt == "json":
        click.echo(to_json(result))
    else:
        click.echo(result.pop("log", ""), nl=False)
        emit_document(result, fmt)
    if result["state"] not in ("success", "skipped"):
        click.get_current_context().exit(1)


@tasks.command("state")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@click.option("--map-index", type=int, default=-1, show_default=True)
@pass_state
def ti_state(state: CliState, dag_id: str, task_id: str, run_id: str, map_index: int) -> None:
    """Print the state of one task instance."""
    from dagflow.services.task_instances import task_instance_state

    click.echo(task_instance_state(state.db, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index))


@tasks.command("states-for-dag-run")
@click.argument("dag_id")
@click.argument("run_id")
@output_option
@pass_state
def states_for_dag_run(state: CliState, dag_id: str, run_id: str, fmt: str) -> None:
    """Print every task instance of a run with its state and try number."""
    from dagflow.services.task_instances import states_for_dag_run as service

    report = service(state.db, dag_id=dag_id, run_id=run_id).to_dict()
    emit_document(
        report,
        fmt,
        table_rows="task_instances",
        columns=["task_id", "map_index", "state", "try_number", "start_date", "end_date", "end_reason"],
    )


@tasks.command("tries")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--task-id", "-t", help="Only this task's tries.")
@output_option
@pass_state
def tries(state: CliState, dag_id: str, run_id: str, task_id: str | None, fmt: str) -> None:
    """Print the try history of a run's task instances: how and why each try ended."""
    from dagflow.services.reports import iso
    from dagflow.services.task_instances import try_history

    rows = [
        {
            "task_id": t.task_id,
            "map_index": t.map_index,
            "try_number": t.try_number,
            "state": t.state or "none",
            "start_date": iso(t.start_date),
            "end_date": iso(t.end_date),
            "duration": t.duration,
            "hostname": t.hostname,
            "pid": t.pid,
            "reason": t.reason,
        }
        for t in try_history(state.db, dag_id=dag_id, run_id=run_id, task_id=task_id)
    ]
    emit_rows(
        rows,
        ["task_id", "map_index", "try_number", "state", "start_date", "end_date", "hostname", "pid", "reason"],
        fmt,
    )
