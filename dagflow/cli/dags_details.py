"""``dagflow dags details | next-execution | retry | reserialize | report``."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option, to_json


@click.command("details")
@click.argument("dag_id")
@output_option
@pass_state
def details(state: CliState, dag_id: str, fmt: str) -> None:
    """Show everything the DB knows of a DAG: paused, file, schedule, next run, dates, limits, params."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services.dag_details import dag_details

    refresh(state.settings, state.db)
    document = dag_details(state.db, dag_id)
    if fmt == "json":
        click.echo(to_json(document))
        return
    emit_rows([{"property": key, "value": value} for key, value in document.items()], ["property", "value"], fmt)


@click.command("next-execution")
@click.argument("dag_id")
@click.option(
    "--num-executions", "-n", type=click.IntRange(min=1), default=1, show_default=True, help="How many to print."
)
@output_option
@pass_state
def next_execution(state: CliState, dag_id: str, num_executions: int, fmt: str) -> None:
    """Print the logical dates of the DAG's next scheduled runs (one per line)."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services.dag_details import next_executions

    refresh(state.settings, state.db)
    document = next_executions(state.db, dag_id, count=num_executions)
    if document["is_paused"]:
        click.echo("[INFO] Please be reminded this DAG is PAUSED now.", err=True)
    if not document["runs"]:
        click.echo(
            "[WARN] No following schedule can be found. This DAG may have schedule '@once' or None, "
            "or its end_date has passed.",
            err=True,
        )
    if fmt == "json":
        click.echo(to_json(document))
    elif fmt == "table" and document["runs"]:
        emit_rows(document["runs"], ["logical_date", "data_interval_start", "data_interval_end", "run_after"], fmt)
    else:
        for run in document["runs"] or [{"logical_date": "None"}]:  # Airflow prints None when there is none
            click.echo(run["logical_date"])


@click.command("retry")
@click.argument("dag_id")
@click.argument("run_id")
@output_option
@pass_state
def retry(state: CliState, dag_id: str, run_id: str, fmt: str) -> None:
    """Re-run a run's failed and upstream_failed task instances (every earlier try is kept)."""
    from dagflow.services.dag_runs import ensure_dag_known
    from dagflow.services.run_actions import retry_failed

    ensure_dag_known(state.settings, state.db, dag_id)
    from dagflow.cli.tasks_manage import ti_row

    cleared = [ti_row(t) for t in retry_failed(state.settings, state.db, dag_id, run_id)]
    if fmt == "json":
        click.echo(to_json(cleared))
        return
    click.echo(f"{len(cleared)} task instance(s) of {run_id} cleared to run again.")
    if cleared and fmt == "table":
        emit_rows(cleared, ["task_id", "map_index", "state", "try_number"], fmt)


@click.command("reserialize")
@pass_state
def reserialize(state: CliState) -> None:
    """Parse every DAG file again (changed or not) and store every DAG anew."""
    from dagflow.services.database import ensure_schema
    from dagflow.services.reserialize import reserialize_all

    ensure_schema(state.db)
    report = reserialize_all(state.settings, state.db)
    click.echo(f"Reserialized: {report.summary()}")


@click.command("report")
@output_option
@pass_state
def report(state: CliState, fmt: str) -> None:
    """Show each DAG file's last parse: how long it took, its DAGs, whether it failed (slowest first)."""
    from dagflow.cli.dag_files import refresh
    from dagflow.services.dag_details import parse_report

    refresh(state.settings, state.db)
    rows = parse_report(state.db)
    if fmt == "json":
        click.echo(to_json(rows))
        return
    emit_rows(rows, ["file", "duration", "dag_num", "dags", "has_error", "last_parsed"], fmt)
    if fmt == "table":
        total = sum(row["duration"] for row in rows)
        emit_document({"files": len(rows), "total_parse_seconds": round(total, 3)}, "plain")


def register() -> None:
    """Add the commands to ``dagflow dags``."""
    from dagflow.cli.dags import dags

    for command in (details, next_execution, retry, reserialize, report):
        dags.add_command(command)
