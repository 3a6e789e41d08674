"""``dagflow scheduler``: run the scheduler (with DAG parsing inside unless configured otherwise)."""

from __future__ import annotations

import logging

import click

from dagflow.cli.main import CliState, pass_state


def configure_logging(level: str) -> None:
    """Log lines to stderr at ``level``."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


@click.command("scheduler")
@click.option(
    "--num-runs",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many loop iterations (default: run until stopped).",
)
@pass_state
def scheduler(state: CliState, num_runs: int | None) -> None:
    """Run the scheduler until Ctrl-C / SIGTERM."""
    from dagflow.config import dag_folders
    from dagflow.scheduler.process import run_scheduler
    from dagflow.services.database import start_component

    settings = state.settings
    configure_logging(settings.logging.level)
    start_component(state.db, "scheduler")
    click.echo(
        f"dagflow scheduler: executor {settings.core.executor}, DAGs in "
        f"{', '.join(str(f) for f in dag_folders(settings))}",
        err=True,
    )
    run_scheduler(settings, state.db, folders=dag_folders(settings), num_runs=num_runs)
    click.echo("dagflow scheduler stopped.", err=True)
