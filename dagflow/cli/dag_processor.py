"""``dagflow dag-processor``: parse DAG files in subprocesses and keep the DB in step."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.signals import on_signals


@click.command("dag-processor")
@click.option(
    "--num-runs",
    "-n",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many passes (default: run until stopped).",
)
@click.option("--once", is_flag=True, help="One pass, then exit (same as --num-runs 1).")
@click.option(
    "--force",
    is_flag=True,
    help="Parse every file in the first pass, even those unchanged since any processor last parsed them.",
)
@pass_state
def dag_processor(state: CliState, num_runs: int | None, once: bool, force: bool) -> None:
    """Parse DAG files (in parsing processes, each file under a timeout) until Ctrl-C or SIGTERM."""
    from dagflow.config import dag_folders
    from dagflow.dag_processing.processor import DagProcessor, ScanReport
    from dagflow.services.database import start_component

    start_component(state.db, "dag-processor")
    folders = dag_folders(state.settings)
    processor = DagProcessor(state.settings, state.db, folders=folders, resume=not force)

    def report(scan: ScanReport) -> None:
        if scan.changed_anything or once:
            click.echo(scan.summary())

    stop = threading.Event()
    click.echo(f"dag-processor watching {', '.join(str(f) for f in folders)}")
    with _stop_on_signals(stop):
        passes = processor.run(stop, num_runs=1 if once else num_runs, on_report=report)
    click.echo(f"dag-processor stopped after {passes} pass(es)")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (a clean stop after the current pass) while inside."""
    with on_signals(lambda _sig: stop.set()):
        yield
