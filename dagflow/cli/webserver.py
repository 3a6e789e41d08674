"""``dagflow webserver`` (alias ``api-server``, Airflow 3's name): gunicorn serving ``create_app(settings)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dagflow.cli.main import CliState, pass_state

if TYPE_CHECKING:
    from flask import Flask

    from dagflow.config import Settings


def _serve_options(command: Any) -> Any:
    for option in reversed(
        [
            click.option("--host", "-H", default=None, help="Address to bind (default: webserver.host, 127.0.0.1)."),
            click.option("--port", "-p", type=click.IntRange(1, 65535), default=None, help="Port (default: 8080)."),
            click.option("--workers", "-w", type=click.IntRange(1, 64), default=None, help="gunicorn workers."),
        ]
    ):
        command = option(command)
    return command


def serve(settings: Settings, *, host: str, port: int, workers: int, banner: bool = True) -> None:
    """Run gunicorn in this process until SIGINT/SIGTERM; each worker builds its own app and DB engine."""
    from gunicorn.app.base import BaseApplication

    from dagflow.webapp import create_app

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("timeout", 120)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("accesslog", None)
            self.cfg.set("proc_name", "dagflow-webserver")

        def load(self) -> Flask:
            return create_app(settings)

    if banner:
        click.echo(f"dagflow webserver: http://{host}:{port}/ (REST API under /api/v2, docs at /api/v2/docs)", err=True)
    _Server().run()


def _prepare(state: CliState) -> Settings:
    """Migrate a brand-new DB, and fail early (one line) on a bad secret key or an out-of-date DB."""
    from dagflow.keys import secret_key
    from dagflow.services.database import start_component

    start_component(state.db, "webserver")
    secret_key(state.settings)
    return state.settings


@click.command("webserver")
@_serve_options
@pass_state
def webserver(state: CliState, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the REST API (and the web UI) with gunicorn until Ctrl-C."""
    settings = _prepare(state)
    web = settings.webserver
    serve(settings, host=host or web.host, port=port or web.port, workers=workers or web.workers)


@click.command("api-server")
@_serve_options
@pass_state
def api_server(state: CliState, host: str | None, port: int | None, workers: int | None) -> None:
    """The same as ``dagflow webserver`` (Airflow 3's name)."""
    settings = _prepare(state)
    web = settings.webserver
    serve(settings, host=host or web.host, port=port or web.port, workers=workers or web.workers)
