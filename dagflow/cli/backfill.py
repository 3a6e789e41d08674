"""``dagflow dags backfill|backfill-cancel|list-backfills``: runs over past intervals, made by the scheduler.

``dags backfill`` stores the backfill and watches it: a live progress bar of the runs
done / failed / running until all finish (exit 1 if any failed). Ctrl-C stops watching
only; the scheduler carries on. Registered on the ``dags`` group by ``register()``.
"""

from __future__ import annotations

import signal
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from dagflow.cli.dags import dags
from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option
from dagflow.cli.params import JSON_OBJECT, LOGICAL_DATE

if TYPE_CHECKING:
    from dagflow.services.backfills import BackfillPlan, BackfillProgress

#: Seconds between two reads of the backfill's progress.
POLL_SECONDS = 1.0
REPROCESS_CHOICES = ("none", "failed", "completed")
BACKFILL_COLUMNS = [
    "id",
    "dag_id",
    "from_date",
    "to_date",
    "reprocess_behavior",
    "max_active_runs",
    "run_backwards",
    "status",
    "created_at",
    "completed_at",
]


class BadBackfill(click.ClickException):
    """A backfill that cannot be made with these arguments (exit 2, one line)."""

    exit_code = 2


@click.command("backfill")
@click.argument("dag_id")
@click.option(
    "--start-date", "-s", "start", type=LOGICAL_DATE, required=True, help="First logical date of the range (inclusive)."
)
@click.option(
    "--end-date", "-e", "end", type=LOGICAL_DATE, required=True, help="Last logical date of the range (inclusive)."
)
@click.option(
    "--reprocess-behavior",
    type=click.Choice(REPROCESS_CHOICES),
    default="none",
    show_default=True,
    help="Existing runs that run again: none, failed ones, or failed and successful ones.",
)
@click.option(
    "--max-active-runs",
    type=click.IntRange(min=1),
    default=None,
    help="Runs of this backfill active at once (default: the DAG's max_active_runs).",
)
@click.option("--run-backwards", is_flag=True, help="Newest interval first.")
@click.option("--dry-run", is_flag=True, help="Print the intervals and what would happen to each; write nothing.")
@click.option("--conf", "-c", type=JSON_OBJECT, help="JSON object passed as every run's conf.")
@click.option("--no-wait", is_flag=True, help="Create the backfill and return; do not watch it.")
@output_option
@pass_state
@click.pass_context
def backfill(
    ctx: click.Context,
    state: CliState,
    dag_id: str,
    start: datetime,
    end: datetime,
    reprocess_behavior: str,
    max_active_runs: int | None,
    run_backwards: bool,
    dry_run: bool,
    conf: dict[str, Any] | None,
    no_wait: bool,
    fmt: str,
) -> None:
    """Run a DAG over every schedule interval from START to END; the scheduler makes the runs."""
    plan = _create(
        state,
        dag_id,
        start,
        end,
        reprocess_behavior=reprocess_behavior,
        max_active_runs=max_active_runs,
        run_backwards=run_backwards,
        conf=conf,
        dry_run=dry_run,
    )
    if dry_run:
        _print_dry_run(plan, fmt)
        return
    assert plan.backfill_id is not None
    if fmt == "json" and no_wait:
        emit_document(plan.to_dict(), fmt)
        return
    _print_created(plan)
    if not _scheduler_running(state):
        click.echo(
            "No scheduler is running: the backfill starts once `dagflow scheduler` (or `dagflow standalone`) runs.",
            err=True,
        )
    if no_wait or not plan.to_run:
        return
    ctx.exit(_watch(state, plan))


def _create(state: CliState, dag_id: str, start: datetime, end: datetime, **options: Any) -> BackfillPlan:
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.services.backfills import BackfillError, create_backfill

    refresh_if_unknown(state.settings, state.db, dag_id)
    try:  # InvalidConf (a conf that breaks the params) is one line, exit 2, at cli.main's boundary
        return create_backfill(state.settings, state.db, dag_id, start, end, **options)
    except BackfillError as exc:
        raise BadBackfill(str(exc)) from exc


def _print_dry_run(plan: BackfillPlan, fmt: str) -> None:
    if fmt == "json":
        emit_document(plan.to_dict(), fmt)
        return
    from dagflow.services.backfills import step_row

    click.echo(
        f"Dry run of a backfill of {plan.dag_id}: {len(plan.to_run)} of {len(plan.steps)} interval(s) "
        f"would run (at most {plan.max_active_runs} at a time); nothing was written."
    )
    emit_rows([step_row(s) for s in plan.steps], ["logical_date", "action", "reason"], fmt)


def _print_created(plan: BackfillPlan) -> None:
    skipped = len(plan.steps) - len(plan.to_run)
    click.echo(
        f"Backfill {plan.backfill_id} of {plan.dag_id}: {len(plan.to_run)} run(s) to make or re-run, "
        f"{skipped} interval(s) skipped, at most {plan.max_active_runs} at a time."
    )


def _scheduler_running(state: CliState) -> bool:
    from dagflow.services.backfills import scheduler_running

    return scheduler_running(state.settings, state.db)


def _watch(state: CliState, plan: BackfillPlan) -> int:
    """Show the progress until the backfill completes; its exit code (130 on Ctrl-C)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from dagflow.services.backfills import backfill_progress

    assert plan.backfill_id is not None
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}  running {task.fields[running]}  queued {task.fields[queued]}"),
        TimeElapsedColumn(),
    )
    # Ctrl-C sets a flag the loop looks at between polls: a KeyboardInterrupt raised at any
    # point could land inside the progress bar's refresh (its lock held for ever, and the bar's
    # stop waiting on it), so the watch would never end. A plain flag: the handler runs in
    # this thread, so it must take no lock the loop may hold.
    interrupted: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: interrupted.append(signum))
    try:
        with Progress(*columns) as bar:
            task = bar.add_task(f"backfill {plan.backfill_id}", total=len(plan.to_run), failed=0, running=0, queued=0)
            while not interrupted:
                progress = backfill_progress(state.db, plan.backfill_id)
                bar.update(
                    task,
                    total=progress.total,
                    completed=progress.done,
                    failed=progress.failed,
                    running=progress.running,
                    queued=progress.queued,
                )
                if progress.backfill.completed_at is not None:
                    return _summary(progress)
                time.sleep(POLL_SECONDS)
    finally:
        signal.signal(signal.SIGINT, previous)
    _print_detached(plan)
    return 130


def _print_detached(plan: BackfillPlan) -> None:
    click.echo(f"\nStopped watching. Backfill {plan.backfill_id} keeps running in the scheduler.", err=True)
    click.echo(
        f"  watch it:  dagflow dags list-runs {plan.dag_id}   (or dagflow dags list-backfills {plan.dag_id})", err=True
    )
    click.echo(f"  cancel it: dagflow dags backfill-cancel {plan.backfill_id}", err=True)


def _summary(progress: BackfillProgress) -> int:
    cancelled = f", {progress.cancelled} cancelled" if progress.cancelled else ""
    click.echo(
        f"Backfill {progress.backfill.id} of {progress.backfill.dag_id} finished: {progress.success} succeeded, "
        f"{progress.failed} failed{cancelled}."
    )
    return 1 if progress.failed else 0


@click.command("backfill-cancel")
@click.argument("backfill_id", type=int)
@output_option
@pass_state
def backfill_cancel(state: CliState, backfill_id: int, fmt: str) -> None:
    """Cancel a backfill: no new runs, its queued runs fail, its running runs finish."""
    from dagflow.services.backfills import BackfillError, cancel_backfill

    try:
        row = cancel_backfill(state.db, backfill_id)
    except BackfillError as exc:
        raise BadBackfill(str(exc)) from exc
    if fmt == "json":
        emit_document(row.to_dict(), fmt)
        return
    click.echo(
        f"Cancelled backfill {backfill_id} of {row.backfill.dag_id}: no new runs; "
        f"{row.queued_runs_failed} queued run(s) failed, running runs finish."
    )


@click.command("list-backfills")
@click.argument("dag_id", required=False)
@output_option
@pass_state
def list_backfills(state: CliState, dag_id: str | None, fmt: str) -> None:
    """List backfills (of one DAG, or all), newest first."""
    from dagflow.services.backfills import list_backfills as service
    from dagflow.services.database import ensure_schema

    ensure_schema(state.db)
    emit_rows([b.to_dict() for b in service(state.db, dag_id)], BACKFILL_COLUMNS, fmt)


def register() -> None:
    """Add these commands to the ``dags`` group (idempotent)."""
    for command in (backfill, backfill_cancel, list_backfills):
        if command.name not in dags.commands:
            dags.add_command(command)
