"""``dagflow standalone``: everything in one command on the embedded default (SQLite + LocalExecutor)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.private_files import make_private_dirs

if TYPE_CHECKING:
    from dagflow.config import Settings


@click.command("standalone")
@pass_state
def standalone(state: CliState) -> None:
    """Migrate the DB if needed, then run DAG parsing + the scheduler (LocalExecutor) until Ctrl-C."""
    from dagflow.cli.scheduler import configure_logging
    from dagflow.config import dag_folders
    from dagflow.executors.local import LocalExecutor
    from dagflow.scheduler.process import run_scheduler
    from dagflow.services.database import migrate_fresh

    settings = state.settings.replace(scheduler={"standalone_dag_processor": False})
    configure_logging(settings.logging.level)
    migrate_fresh(state.db)
    make_private_dirs(settings.core.dags_folder)
    _print_banner(settings)
    # Hook: start the web server here once `dagflow webserver` exists (another issue).
    executor = LocalExecutor(settings)
    run_scheduler(settings, state.db, folders=dag_folders(settings), executor=executor)
    click.echo("dagflow standalone stopped.", err=True)


def _print_banner(settings: Settings) -> None:
    from dagflow.config import dag_folders
    from dagflow.db import normalize_url

    url = normalize_url(settings.database.sql_alchemy_conn).render_as_string(hide_password=True)
    lines = [
        "dagflow standalone is starting (Ctrl-C to stop)",
        f"  DAG folders : {', '.join(str(f) for f in dag_folders(settings))}",
        f"  task logs   : {settings.logging.base_log_folder}",
        f"  database    : {url}",
        f"  executor    : LocalExecutor, parallelism {settings.core.parallelism}",
        "  web UI      : not available yet",
        "  trigger a run: dagflow dags unpause DAG_ID && dagflow dags trigger DAG_ID",
        "  watch it     : dagflow dags list-runs DAG_ID / dagflow tasks states-for-dag-run DAG_ID RUN_ID",
    ]
    click.echo("\n".join(lines), err=True)
