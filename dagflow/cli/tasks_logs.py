"""``dagflow tasks logs``: print a try's log, fetched from the worker that ran it if need be.

Registered on the ``tasks`` group of ``dagflow.cli.tasks`` by ``register()``.
"""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.tasks import tasks


@click.command("logs")
@click.argument("dag_id")
@click.argument("task_id")
@click.argument("run_id")
@click.option(
    "--try", "try_number", type=click.IntRange(min=1), default=None, help="The try to show (default: the latest)."
)
@click.option("--map-index", type=int, default=-1, show_default=True, help="Map index of a mapped task.")
@pass_state
def logs(state: CliState, dag_id: str, task_id: str, run_id: str, try_number: int | None, map_index: int) -> None:
    """Print the log of one try of a task instance (local, or from the worker's log server)."""
    from dagflow.services.task_logs import task_log

    text = task_log(
        state.settings,
        state.db,
        dag_id=dag_id,
        task_id=task_id,
        run_id=run_id,
        map_index=map_index,
        try_number=try_number,
    )
    if text:
        click.echo(text, nl=not text.endswith("\n"))


def register() -> None:
    """Add ``logs`` to the ``tasks`` group."""
    tasks.add_command(logs)
