"""``dagflow triggerer``: run the triggers of deferred task instances until Ctrl-C / SIGTERM."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.signals import on_signals


@click.command("triggerer")
@click.option(
    "--capacity",
    type=click.IntRange(min=1),
    default=None,
    help="Most triggers this triggerer runs at once (default: triggerer.capacity, 1000).",
)
@pass_state
def triggerer(state: CliState, capacity: int | None) -> None:
    """Run deferred tasks' triggers in one asyncio loop; several triggerers share the work."""
    from dagflow.cli.scheduler import configure_logging
    from dagflow.db import when_reachable
    from dagflow.services.database import start_component
    from dagflow.triggerer.job import Triggerer

    settings = state.settings
    configure_logging(settings.logging.level)
    start_component(state.db, "triggerer")
    job = Triggerer(settings, state.db, capacity=capacity or settings.triggerer.capacity)
    job_id = when_reachable(job.register, settings.database.startup_wait_timeout, "triggerer")
    click.echo(f"dagflow triggerer (job {job_id}, capacity {job.capacity}) running", err=True)
    with on_signals(lambda _sig: job.stop()):
        job.run()
    click.echo("dagflow triggerer stopped.", err=True)
