"""``dagflow tasks render | failed-deps | run``: a task instance's templates, why it waits, one real try.

Registered on the ``tasks`` group by ``register()``.
"""

from __future__ import annotations

from typing import Any

import click
import pendulum

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option, to_json

map_index_option = click.option("--map-index", type=click.IntRange(min=-1), default=-1, show_default=True)


class _FailedTry(click.ClickException):
    """Exit 1 with the try's end already printed."""

    exit_code = 1


@click.command("render")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("logical_date_or_run_id", metavar="[LOGICAL_DATE|RUN_ID]", required=False)
@map_index_option
@pass_state
def render(state: CliState, dag_id: str, task_id: str, logical_date_or_run_id: str | None, map_index: int) -> None:
    """Print the task's template fields rendered for a logical date or an existing run (default: now)."""
    from dagflow.cli.dag_files import load_dag
    from dagflow.services.task_render import render_task

    logical_date, run_id = _date_or_run(logical_date_or_run_id)
    dag = load_dag(state.settings, state.db, dag_id)
    fields = render_task(
        state.settings, state.db, dag, task_id, logical_date=logical_date, run_id=run_id, map_index=map_index
    )
    for name, value in fields.items():
        click.echo("\n# ----------------------------------------------------------")
        click.echo(f"# property: {name}")
        click.echo("# ----------------------------------------------------------")
        click.echo(value if isinstance(value, str) else "None" if value is None else to_json(value))


@click.command("failed-deps")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@map_index_option
@output_option
@pass_state
def failed_deps(state: CliState, dag_id: str, task_id: str, run_id: str, map_index: int, fmt: str) -> None:
    """Say why a task instance is not running (nothing listed: the scheduler may run it now)."""
    from dagflow.services.dag_runs import ensure_dag_known
    from dagflow.services.failed_deps import failed_deps as service

    ensure_dag_known(state.settings, state.db, dag_id)
    document = service(state.db, dag_id, task_id, run_id, map_index=map_index)
    if fmt == "json":
        click.echo(to_json(document))
        return
    if not document["reasons"]:
        click.echo("Task instance dependencies are all met.")
        return
    click.echo(f"Dependencies not met for {task_id} in {run_id} (state {document['state'] or 'none'}):")
    emit_rows(document["reasons"], ["dep", "detail"], fmt)


@click.command("run")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@map_index_option
@click.option("--ignore-all-dependencies", "-A", is_flag=True, help="Run whatever the dependencies say.")
@click.option(
    "--ignore-dependencies", "-i", is_flag=True, help="Ignore the task's own: trigger rule, past, retry wait."
)
@click.option("--force", "-f", is_flag=True, help="Run a finished task instance again.")
@output_option
@pass_state
def run(
    state: CliState,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int,
    ignore_all_dependencies: bool,
    ignore_dependencies: bool,
    force: bool,
    fmt: str,
) -> None:
    """Run one try of a task instance of an existing run, here; it is recorded like any try (exit 1 if it fails)."""
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.services.task_run import run_task_instance

    refresh_if_unknown(state.settings, state.db, dag_id)
    result = run_task_instance(
        state.settings,
        state.db,
        dag_id,
        task_id,
        run_id,
        map_index=map_index,
        ignore_all_deps=ignore_all_dependencies,
        ignore_task_deps=ignore_dependencies,
        force=force,
    )
    if fmt == "json":
        click.echo(to_json(result))
    else:
        click.echo(result.pop("log", ""), nl=False)
        emit_document(result, fmt)
    if result["state"] not in ("success", "skipped", "up_for_reschedule"):
        raise _FailedTry(f"{task_id} of {run_id} ended {result['state']}")


def _date_or_run(value: str | None) -> tuple[Any, str | None]:
    """A logical date if ``value`` parses as one, else a run id."""
    if value is None:
        return None, None
    try:
        parsed = pendulum.parse(value, tz="UTC")
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        return None, value
    return (parsed, None) if isinstance(parsed, pendulum.DateTime) else (None, value)


def register() -> None:
    """Add the commands to ``dagflow tasks``."""
    from dagflow.cli.tasks import tasks

    for command in (render, failed_deps, run):
        tasks.add_command(command)
