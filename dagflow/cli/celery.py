"""``dagflow celery worker | flower``: Celery workers for the CeleryExecutor, and Flower."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.exceptions import ConfigError


def _celery_module(name: str):  # type: ignore[no-untyped-def]
    """``dagflow.executors.celery.<name>``, or one line saying the extra is missing."""
    from importlib import import_module

    try:
        return import_module(f"dagflow.executors.celery.{name}")
    except ImportError as exc:
        raise ConfigError(f"Celery is not installed: pip install 'dagflow[celery]' ({exc})") from None


@click.group("celery")
def celery() -> None:
    """Celery workers (core.executor = CeleryExecutor) and the Flower monitor."""


@celery.command("worker")
@click.option(
    "--queues",
    "-q",
    default=None,
    metavar="Q1,Q2",
    help="Comma-separated queues to consume (default: celery.default_queue).",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=None,
    help="Tries run at once (default: celery.worker_concurrency).",
)
@pass_state
def worker(state: CliState, queues: str | None, concurrency: int | None) -> None:
    """Run a Celery worker until Ctrl-C / SIGTERM (warm shutdown)."""
    from dagflow.cli.scheduler import configure_logging

    settings = state.settings
    names = [q.strip() for q in (queues or settings.celery.default_queue).split(",") if q.strip()]
    if not names:
        raise click.BadParameter("give at least one queue name", param_hint="--queues")
    configure_logging(settings.logging.level)
    worker_module = _celery_module("worker")
    code = worker_module.run_worker(
        settings, queues=names, concurrency=concurrency or settings.celery.worker_concurrency
    )
    if code:
        raise SystemExit(code)


@celery.command("flower")
@click.option(
    "--port",
    type=click.IntRange(min=1, max=65535),
    default=None,
    help="Port of the Flower UI (default: celery.flower_port).",
)
@pass_state
def flower(state: CliState, port: int | None) -> None:
    """Run Flower (the Celery monitoring UI) on dagflow's broker, if flower is installed."""
    _celery_module("flower").run_flower(state.settings, port=port)
