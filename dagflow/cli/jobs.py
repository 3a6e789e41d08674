"""``dagflow jobs check``: is a scheduler / DAG processor / triggerer alive (a liveness probe, as Airflow's)."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state


class _NoAliveJob(click.ClickException):
    """Exit 1: the probe failed."""

    exit_code = 1


@click.group()
def jobs() -> None:
    """Check the long-running dagflow processes (their heartbeats in the metadata DB)."""


@jobs.command("check")
@click.option(
    "--job-type",
    type=click.Choice(["scheduler", "dag-processor", "triggerer", "SchedulerJob", "DagProcessorJob", "TriggererJob"]),
    help="Only this kind of job.",
)
@click.option("--hostname", help="Only jobs on this host.")
@click.option("--local", is_flag=True, help="Only jobs on this host (its name as dagflow records it).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=1, show_default=True, help="How many alive jobs to look at."
)
@click.option("--allow-multiple", is_flag=True, help="Succeed when more than one job is alive.")
@pass_state
def check(
    state: CliState, job_type: str | None, hostname: str | None, local: bool, limit: int, allow_multiple: bool
) -> None:
    """Exit 0 if a job of that kind heartbeated recently, else 1 ("No alive jobs found.")."""
    from dagflow.execution.claim import this_host
    from dagflow.services.database import ensure_schema
    from dagflow.services.health import alive_jobs

    if allow_multiple and limit < 2:
        raise click.UsageError("--allow-multiple needs --limit greater than 1")
    if local and hostname is not None:
        raise click.UsageError("--local and --hostname cannot be used together")
    ensure_schema(state.db)
    host = this_host() if local else hostname
    found = alive_jobs(state.settings, state.db, job_type=job_type, hostname=host, limit=limit)
    if not found:
        raise _NoAliveJob("No alive jobs found.")
    if len(found) > 1 and not allow_multiple:
        raise _NoAliveJob(f"Found {len(found)} alive jobs. Expected only one.")
    if len(found) == 1:
        click.echo("Found one alive job.")
    else:
        click.echo(f"Found {len(found)} alive jobs.")
