"""``dagflow dags trigger|pause|unpause|state|list-runs|delete``: runs of a DAG and its lifecycle.

Registered on the ``dags`` group of ``dagflow.cli.dags`` by ``register()``.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from dagflow.cli.dags import dags
from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option
from dagflow.cli.params import JSON_OBJECT, LOGICAL_DATE
from dagflow.state import DagRunState

if TYPE_CHECKING:
    from dagflow.services.records import RunRecord

RUN_COLUMNS = ["dag_id", "run_id", "state", "run_type", "logical_date", "start_date", "end_date"]


class NotConfirmed(click.ClickException):
    """A destructive command run without ``--yes`` where nobody can be asked (exit 2, one line)."""

    exit_code = 2


def confirm_or_refuse(question: str, refusal: str) -> None:
    """Ask on a terminal (Airflow asks); refuse with exit 2 when stdin is not a terminal."""
    if not sys.stdin.isatty():
        raise NotConfirmed(refusal)
    if not click.confirm(question, default=False):
        raise click.Abort()


@click.command("trigger")
@click.argument("dag_id")
@click.option("--conf", "-c", type=JSON_OBJECT, help="JSON object passed as the run's conf (checked against params).")
@click.option("--run-id", "-r", help="The run id (default: manual__<logical date>).")
@click.option(
    "--logical-date",
    "-l",
    "--exec-date",
    "-e",
    "logical_date",
    type=LOGICAL_DATE,
    help="The run's logical date (default: now).",
)
@output_option
@pass_state
def trigger(
    state: CliState,
    dag_id: str,
    conf: dict[str, Any] | None,
    run_id: str | None,
    logical_date: datetime | None,
    fmt: str,
) -> None:
    """Create a queued manual run of a DAG; the scheduler starts it."""
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.sdk.ids import check_run_id
    from dagflow.services.dag_runs import trigger_dag
    from dagflow.services.dags import get_dag

    if run_id is not None:
        check_run_id(run_id)  # refused before any DAG file is parsed
    refresh_if_unknown(state.settings, state.db, dag_id)
    # a conf that breaks the DAG's params is InvalidConf: one line, exit 2 (cli.main.BAD_INPUT)
    created = trigger_dag(state.settings, state.db, dag_id, conf=conf, run_id=run_id, logical_date=logical_date)
    emit_document(created_document(created), fmt)
    if get_dag(state.db, dag_id).is_paused:
        click.echo(
            f"Note: DAG {dag_id!r} is paused: the run stays queued until `dagflow dags unpause {dag_id}`.", err=True
        )


def created_document(run: RunRecord) -> dict[str, Any]:
    """What ``dags trigger`` prints about the run it created."""
    from dagflow.services.reports import iso

    return {"dag_id": run.dag_id, "run_id": run.run_id, "logical_date": iso(run.logical_date), "state": run.state}


@click.command("pause")
@click.argument("dag_id")
@output_option
@pass_state
def pause(state: CliState, dag_id: str, fmt: str) -> None:
    """Pause a DAG: the scheduler creates no new runs and starts no new tasks for it."""
    _set_paused(state, dag_id, True, fmt)


@click.command("unpause")
@click.argument("dag_id")
@output_option
@pass_state
def unpause(state: CliState, dag_id: str, fmt: str) -> None:
    """Resume a paused DAG."""
    _set_paused(state, dag_id, False, fmt)


def _set_paused(state: CliState, dag_id: str, paused: bool, fmt: str) -> None:
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.services.dag_runs import set_paused

    refresh_if_unknown(state.settings, state.db, dag_id)
    dag = set_paused(state.settings, state.db, dag_id, paused=paused)
    emit_rows([{"dag_id": dag.dag_id, "is_paused": dag.is_paused}], ["dag_id", "is_paused"], fmt)


@click.command("state")
@click.argument("dag_id")
@click.argument("run_id")
@pass_state
def run_state(state: CliState, dag_id: str, run_id: str) -> None:
    """Print a DAG run's state (the run id, or its logical date as in Airflow)."""
    from dagflow.services.dag_runs import dag_run_state

    click.echo(dag_run_state(state.db, dag_id=dag_id, run_id=run_id).state)


@click.command("list-runs")
@click.argument("dag_id")
@click.option(
    "--state", "run_state_filter", type=click.Choice([s.value for s in DagRunState]), help="Only runs in this state."
)
@output_option
@pass_state
def list_runs(state: CliState, dag_id: str, run_state_filter: str | None, fmt: str) -> None:
    """List a DAG's runs, newest first."""
    from dagflow.services.dag_runs import list_runs as service

    wanted = DagRunState(run_state_filter) if run_state_filter else None
    emit_rows([run.to_dict() for run in service(state.db, dag_id, state=wanted)], RUN_COLUMNS, fmt)


@click.command("delete")
@click.argument("dag_id")
@click.option("--yes", "-y", is_flag=True, help="Confirm: the DAG's runs and history are deleted.")
@pass_state
def delete(state: CliState, dag_id: str, yes: bool) -> None:
    """Delete a DAG's runs, task instances, XComs and DB rows (its file is kept, and re-parsed)."""
    from dagflow.services.dag_runs import delete_dag

    if not yes:
        raise NotConfirmed(f"dags delete removes every run and record of {dag_id!r}; pass --yes to confirm")
    result = delete_dag(state.db, dag_id)
    click.echo(f"Deleted DAG {dag_id!r} and {result.deleted_runs} run(s).")


def register() -> None:
    """Add these commands to the ``dags`` group (idempotent)."""
    for command in (trigger, pause, unpause, run_state, list_runs, delete):
        if command.name not in dags.commands:
            dags.add_command(command)
