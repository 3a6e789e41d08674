"""``dagflow tasks clear|mark|approve|disable|enable``: a person changes task instances.

Registered on the ``tasks`` group of ``dagflow.cli.tasks`` by ``register()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from dagflow.cli.dags_runs import confirm_or_refuse
from dagflow.cli.main import CliState, pass_state
from dagflow.cli.output import emit_document, emit_rows, output_option
from dagflow.cli.params import LOGICAL_DATE
from dagflow.cli.tasks import tasks
from dagflow.state import MARKABLE, TaskInstanceState

if TYPE_CHECKING:
    from dagflow.services.records import TaskInstanceRecord

TI_COLUMNS = ["run_id", "task_id", "map_index", "state", "try_number"]


@click.command("clear")
@click.argument("dag_id")
@click.option("--task-regex", "-t", help="Clear only tasks whose id matches this regex (re.search).")
@click.option("--start-date", "-s", type=LOGICAL_DATE, help="Runs with a logical date on or after this.")
@click.option("--end-date", "-e", type=LOGICAL_DATE, help="Runs with a logical date on or before this.")
@click.option("--only-failed", "-f", is_flag=True, help="Only failed and upstream_failed task instances.")
@click.option("--only-running", "-r", is_flag=True, help="Only running task instances.")
@click.option("--downstream", "-d", is_flag=True, help="Also clear the matched tasks' downstream tasks.")
@click.option("--upstream", "-u", is_flag=True, help="Also clear the matched tasks' upstream tasks.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@output_option
@pass_state
def clear(
    state: CliState,
    dag_id: str,
    task_regex: str | None,
    start_date: datetime | None,
    end_date: datetime | None,
    only_failed: bool,
    only_running: bool,
    downstream: bool,
    upstream: bool,
    yes: bool,
    fmt: str,
) -> None:
    """Clear task instances so the scheduler runs them again (their runs go back to queued)."""
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.services import clearing

    if only_failed and only_running:
        raise click.UsageError("--only-failed and --only-running exclude each other")
    if start_date and end_date and start_date > end_date:
        raise click.BadParameter("the start date is after the end date", param_hint="--start-date")
    request = clearing.ClearRequest(
        dag_id, task_regex, start_date, end_date, only_failed, only_running, downstream, upstream
    )
    refresh_if_unknown(state.settings, state.db, dag_id)
    if not yes:
        preview = clearing.preview_clear(state.settings, state.db, request)
        if not preview:
            click.echo("No task instances to clear.")
            return
        emit_rows([ti_row(t) for t in preview], TI_COLUMNS, fmt)
        confirm_or_refuse(
            f"Clear these {len(preview)} task instance(s)?",
            f"would clear {len(preview)} task instance(s) (listed above); pass --yes to confirm",
        )
    cleared = clearing.clear_task_instances(state.settings, state.db, request)
    if fmt == "json" and yes:
        emit_rows([ti_row(t) for t in cleared], TI_COLUMNS, fmt)
        return
    click.echo(f"Cleared {len(cleared)} task instance(s).")


def ti_row(ti: TaskInstanceRecord) -> dict[str, Any]:
    """A task instance a clear touched, as the CLI prints it (ids, state, try)."""
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state or "none",
        "try_number": ti.try_number,
    }


@click.command("mark")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option(
    "--state",
    "new_state",
    required=True,
    type=click.Choice(sorted(s.value for s in MARKABLE)),
    help="The state to set.",
)
@click.option("--downstream", "-d", is_flag=True, help="Also mark every downstream task instance of the run.")
@click.option("--map-index", type=int, multiple=True, help="Only these map indexes (repeatable).")
@output_option
@pass_state
def mark(
    state: CliState,
    dag_id: str,
    run_id: str,
    task_id: str,
    new_state: str,
    downstream: bool,
    map_index: tuple[int, ...],
    fmt: str,
) -> None:
    """Set a task instance's state by hand (success, failed or skipped), from any state."""
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.services.clearing import MarkRequest, mark_task_instances

    refresh_if_unknown(state.settings, state.db, dag_id)
    request = MarkRequest(
        dag_id,
        run_id,
        task_id,
        TaskInstanceState(new_state),
        map_indexes=None if downstream or not map_index else tuple(map_index),
        downstream=downstream,
    )
    marked = mark_task_instances(state.settings, state.db, request)
    if fmt == "json":
        emit_rows([m.to_dict() for m in marked], [*TI_COLUMNS, "previous_state"], fmt)
        return
    click.echo(f"Marked {len(marked)} task instance(s) {new_state}.")


@click.command("approve")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--reject", is_flag=True, help="Reject instead of approve (the task fails).")
@click.option("--comment", "-m", help="Why; shown in the task's log.")
@click.option("--map-index", type=int, default=-1, show_default=True)
@output_option
@pass_state
def approve(
    state: CliState, dag_id: str, run_id: str, task_id: str, reject: bool, comment: str | None, map_index: int, fmt: str
) -> None:
    """Approve (or reject) an ApprovalOperator task that waits for a person."""
    from dagflow.services.approvals import decide

    decision = decide(
        state.db,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        approve=not reject,
        comment=comment,
        map_index=map_index,
    )
    if fmt == "table":
        click.echo(f"{task_id!r} in run {run_id!r}: {decision.decision}.")
        return
    emit_document(decision.to_dict(), fmt)


SWITCH_COLUMNS = ["dag_id", "task_id", "run_id", "reason", "disabled_by", "created_at"]


@click.command("disable")
@click.argument("dag_id")
@click.argument("task_id")
@click.option("--run-id", help="Only in this run (default: every run to come).")
@click.option("--reason", help="Why; shown in the task instance's note as 'disabled: REASON'.")
@output_option
@pass_state
def disable(state: CliState, dag_id: str, task_id: str, run_id: str | None, reason: str | None, fmt: str) -> None:
    """Disable a task without editing its DAG: its task instances end skipped and count as success downstream."""
    from dagflow.cli.dag_files import refresh_if_unknown
    from dagflow.services.task_switches import disable_task

    refresh_if_unknown(state.settings, state.db, dag_id)
    switch = disable_task(state.db, dag_id, task_id, run_id=run_id, reason=reason)
    if fmt == "table":
        scope = f"in run {run_id!r}" if run_id else "for all future runs"
        click.echo(f"Disabled {task_id!r} of {dag_id!r} {scope}.")
        return
    emit_document(switch.to_dict(), fmt)


@click.command("enable")
@click.argument("dag_id")
@click.argument("task_id")
@click.option("--run-id", help="Undo a 'tasks disable --run-id' for this run (default: the DAG-wide switch).")
@output_option
@pass_state
def enable(state: CliState, dag_id: str, task_id: str, run_id: str | None, fmt: str) -> None:
    """Undo 'tasks disable': task instances that have not started yet run again."""
    from dagflow.services.task_switches import enable_task

    switch = enable_task(state.db, dag_id, task_id, run_id=run_id)
    if fmt == "table":
        scope = f"in run {run_id!r}" if run_id else "for all future runs"
        click.echo(f"Enabled {task_id!r} of {dag_id!r} {scope}.")
        return
    emit_document(switch.to_dict(), fmt)


def register() -> None:
    """Add these commands to the ``tasks`` group (idempotent)."""
    for command in (clear, mark, approve, disable, enable):
        if command.name not in tasks.commands:
            tasks.add_command(command)
