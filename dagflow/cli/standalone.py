"""``dagflow standalone``: everything in one command on the embedded default (SQLite + LocalExecutor).

DAG parsing and the scheduler run in this process; the web server (REST API and UI) runs as
a child process (``dagflow webserver``, ``webserver.host``/``webserver.port``) that stops with
it. On the first start an ``admin`` user is created with a random password, printed once
and kept in ``$DAGFLOW_HOME/standalone_admin_password.txt`` (mode 0600), as Airflow's
standalone does.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.private_files import make_private_dirs, write_private_text

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "standalone_admin_password.txt"
#: gunicorn workers of the standalone web server (one machine, a few users).
WEB_WORKERS = 2


@dataclass(frozen=True)
class StandaloneAdmin:
    """The standalone admin: its password when this start created it (else None) and where it is kept."""

    username: str
    password: str | None
    password_file: Path


def ensure_admin(settings: Settings, db: Database) -> StandaloneAdmin:
    """Create ``admin`` with a random password if no such user exists; keep the password in a 0600 file."""
    from dagflow.services import users

    path = settings.home / PASSWORD_FILE
    if any(u.username == ADMIN_USERNAME for u in users.list_users(db)):
        return StandaloneAdmin(ADMIN_USERNAME, None, path)
    password = secrets.token_urlsafe(12)
    write_private_text(path, password + "\n")
    users.create_user(db, ADMIN_USERNAME, password, "admin")
    return StandaloneAdmin(ADMIN_USERNAME, password, path)


def start_webserver(settings: Settings) -> subprocess.Popen[bytes]:
    """``dagflow webserver`` as a child process on ``webserver.host``/``webserver.port``."""
    web = settings.webserver
    command = [sys.executable, "-m", "dagflow", "webserver", "--host", web.host, "--port", str(web.port)]
    command += ["--workers", str(min(WEB_WORKERS, web.workers))]
    env = {**os.environ, "DAGFLOW_HOME": str(settings.home)}
    return subprocess.Popen(command, env=env)


def stop_webserver(process: subprocess.Popen[bytes], *, timeout: float = 15.0) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it is still there after ``timeout``."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@click.command("standalone")
@pass_state
def standalone(state: CliState) -> None:
    """Migrate the DB if needed, then run the web server, DAG parsing, the scheduler (LocalExecutor) and a triggerer until Ctrl-C."""
    from dagflow.cli.scheduler import configure_logging
    from dagflow.config import dag_folders
    from dagflow.executors.local import LocalExecutor
    from dagflow.keys import secret_key
    from dagflow.scheduler.process import run_scheduler
    from dagflow.services.database import start_component

    settings = state.settings.replace(scheduler={"standalone_dag_processor": False})
    configure_logging(settings.logging.level)
    start_component(state.db, "standalone")
    secret_key(settings)  # created now, before the web server's workers race to create it
    make_private_dirs(settings.core.dags_folder)
    admin = ensure_admin(settings, state.db)
    web = start_webserver(settings)
    triggerer = _start_triggerer(settings)
    try:
        _print_banner(settings, admin)
        executor = LocalExecutor(settings)
        run_scheduler(settings, state.db, folders=dag_folders(settings), executor=executor)
    finally:
        _stop_triggerer(triggerer)
        stop_webserver(web)
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


def _print_banner(settings: Settings, admin: StandaloneAdmin) -> None:
    from dagflow.config import dag_folders
    from dagflow.db import normalize_url

    url = normalize_url(settings.database.sql_alchemy_conn).render_as_string(hide_password=True)
    web = settings.webserver
    if admin.password is not None:
        login = f"  log in      : {admin.username} / {admin.password}   (kept in {admin.password_file})"
    elif admin.password_file.exists():
        login = f"  log in      : {admin.username}, password in {admin.password_file}"
    else:
        login = f"  log in      : as an existing user ({admin.username} was created before)"
    lines = [
        "dagflow standalone is starting (Ctrl-C to stop)",
        f"  web UI, API : http://{web.host}:{web.port}/  (REST API under /api/v2, docs at /api/v2/docs)",
        login,
        f"  DAG folders : {', '.join(str(f) for f in dag_folders(settings))}",
        f"  task logs   : {settings.logging.base_log_folder}",
        f"  database    : {url}",
        f"  executor    : LocalExecutor, parallelism {settings.core.parallelism}",
        f"  triggerer   : {'running' if settings.triggerer.standalone_triggerer else 'off'}",
        "  trigger a run: dagflow dags unpause DAG_ID && dagflow dags trigger DAG_ID",
        "  watch it     : dagflow dags list-runs DAG_ID / dagflow tasks states-for-dag-run DAG_ID RUN_ID",
    ]
    click.echo("\n".join(lines), err=True)
