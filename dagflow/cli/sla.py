"""``dagflow sla list``: task instances that missed their SLA (recorded by the scheduler)."""

from __future__ import annotations

import click

from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_rows, output_option


@click.group()
def sla() -> None:
    """Show SLA misses."""


@sla.command("list")
@click.option("--dag-id", "-d", help="Only this DAG's misses.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=1000, show_default=True, help="At most this many, newest first."
)
@output_option
@pass_state
def list_misses(state: CliState, dag_id: str | None, limit: int, fmt: str) -> None:
    """List recorded SLA misses, newest first: task, run, deadline and how late."""
    from dagflow.services.sla import SLA_MISS_KEYS, list_sla_misses

    emit_rows([m.to_dict() for m in list_sla_misses(state.db, dag_id=dag_id, limit=limit)], SLA_MISS_KEYS, fmt)
