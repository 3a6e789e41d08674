"""``dagflow standalone``: everything in one command on the embedded default (SQLite + LocalExecutor)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.private_files import make_private_dirs

if TYPE_CHECKING:
    from dagflow.config import Settings


@click.command("standalone")
@pass_state
def standalone(state: CliState) -> None:
    """Migrate the DB if needed, then run DAG parsing + the scheduler (LocalExecutor) + a triggerer until Ctrl-C."""
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
    triggerer = _start_triggerer(settings)
    try:
        run_scheduler(settings, state.db, folders=dag_folders(settings), executor=executor)
    finally:
        _stop_triggerer(triggerer)
    click.echo("dagflow standalone stopped.", err=True)


def _start_triggerer(settings: Settings) -> subprocess.Popen[bytes] | None:
    """``dagflow triggerer`` as a child process (deferred tasks need one), unless turned off."""
    if not settings.triggerer.standalone_triggerer:
        return None
    env = {**os.environ, "DAGFLOW_HOME": str(settings.home)}
    return subprocess.Popen([sys.executable, "-m", "dagflow", "triggerer"], env=env)


def _stop_triggerer(process: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    """SIGTERM the triggerer and wait for it (SIGKILL after ``timeout_s``)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


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
        f"  triggerer   : {'running' if settings.triggerer.standalone_triggerer else 'off'}",
        "  web UI      : not available yet",
        "  trigger a run: dagflow dags unpause DAG_ID && dagflow dags trigger DAG_ID",
        "  watch it     : dagflow dags list-runs DAG_ID / dagflow tasks states-for-dag-run DAG_ID RUN_ID",
    ]
    click.echo("\n".join(lines), err=True)
