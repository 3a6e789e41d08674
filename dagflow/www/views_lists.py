"""``/runs`` and ``/task-instances``: every DAG's runs and task instances, filtered and paged, with bulk actions.

A bulk action is two POSTs: the first (no ``confirmed``) is a dry run that lists exactly
what would change; its confirm form posts the same rows again with ``confirmed=1``.
"All N matching the filter" resolves the filter to rows on the server (up to
``BULK_LIMIT``); the preview then lists those rows and the confirmation acts on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import flash, redirect, request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import DagNotFound, InvalidInput, PermissionDenied
from dagflow.services.bulk import (
    BULK_LIMIT,
    RUN_ACTIONS,
    TASK_INSTANCE_ACTIONS,
    BulkAction,
    BulkResult,
    RunKey,
    TaskInstanceKey,
    bulk_runs,
    bulk_task_instances,
)
from dagflow.services.dag_access import CAN_DELETE, CAN_EDIT
from dagflow.services.dag_runs import RunFilter, query_runs
from dagflow.services.listing import Slice
from dagflow.services.records import Page
from dagflow.services.task_instances import TaskInstanceFilter, query_task_instances
from dagflow.state import DagRunState, TaskInstanceState
from dagflow.web.context import web_context
from dagflow.www.common import local_path, render_page, ui
from dagflow.www.list_filters import DATE_FIELDS, ListArgs, hidden, list_args, since_midnight

PAGE_SIZE = 50
RUN_STATES = tuple(s.value for s in DagRunState)
TI_STATES = tuple(s.value for s in TaskInstanceState if s is not TaskInstanceState.NONE) + ("none",)
ACTION_LABELS = {
    BulkAction.CLEAR: "Clear",
    BulkAction.MARK_SUCCESS: "Mark success",
    BulkAction.MARK_FAILED: "Mark failed",
    BulkAction.MARK_SKIPPED: "Mark skipped",
    BulkAction.DELETE: "Delete",
}
K = TypeVar("K", RunKey, TaskInstanceKey)


def _run_filter(args: ListArgs) -> RunFilter:
    db = web_context().db
    return RunFilter(
        dag_id=args.dag_id or None,
        states=args.states,
        dag_ids=args.dag_ids(db),
        hidden_dag_ids=hidden(),
        **args.date_range(),
    )


def _ti_filter(args: ListArgs) -> TaskInstanceFilter:
    db = web_context().db
    return TaskInstanceFilter(
        dag_id=args.dag_id or None,
        states=args.states,
        dag_ids=args.dag_ids(db),
        hidden_dag_ids=hidden(),
        **args.date_range(),
    )


RUN_ORDER = ("-logical_date", "-id")
TI_ORDER = ("-logical_date", "dag_id", "task_id", "map_index")


@ui.route("/runs")
def runs() -> tuple[str, int]:
    """Every DAG's runs, newest first, filtered by state, DAG, tag and date range."""
    args = list_args(RUN_STATES)
    try:
        page = query_runs(web_context().db, _run_filter(args), Slice(PAGE_SIZE, args.offset, RUN_ORDER))
    except DagNotFound as exc:
        page, args = Page([], 0), _missing(args, exc)
    return render_page(
        "runs.html", title="DAG runs", page=page, **_list_context(args, RUN_STATES, RUN_ACTIONS, "ui.runs_bulk")
    )


@ui.route("/task-instances")
def task_instances() -> tuple[str, int]:
    """Every DAG's task instances, newest run first, filtered by state, DAG, tag and date range."""
    args = list_args(TI_STATES)
    try:
        page = query_task_instances(web_context().db, _ti_filter(args), Slice(PAGE_SIZE, args.offset, TI_ORDER))
    except DagNotFound as exc:
        page, args = Page([], 0), _missing(args, exc)
    context = _list_context(args, TI_STATES, TASK_INSTANCE_ACTIONS, "ui.task_instances_bulk")
    return render_page("task_instances.html", title="Task instances", page=page, **context)


def _missing(args: ListArgs, exc: DagNotFound) -> ListArgs:
    flash(str(exc), "error")
    return args


def _list_context(args: ListArgs, states: Sequence[str], actions: Sequence[BulkAction], bulk: str) -> dict[str, Any]:
    return {
        "args": args,
        "url_args": args.url_args(),
        "states": states,
        "date_fields": DATE_FIELDS,
        "actions": [(a.value, ACTION_LABELS[a]) for a in actions if a is not BulkAction.DELETE],
        "bulk_url": url_for(bulk, **args.url_args()),
        "limit": PAGE_SIZE,
        "since_midnight": since_midnight(),
        "bulk_limit": BULK_LIMIT,
    }


@ui.route("/runs/bulk", methods=["POST"])
def runs_bulk() -> ResponseReturnValue:
    """Clear or mark the selected runs: a dry-run preview first, then (``confirmed=1``) for real."""
    action = _action((BulkAction.CLEAR, BulkAction.MARK_SUCCESS, BulkAction.MARK_FAILED))
    return _runs_action(action)


@ui.route("/runs/bulk-delete", methods=["POST"])
def runs_bulk_delete() -> ResponseReturnValue:
    """Delete the selected runs: a preview first, then (``confirmed=1``) for real."""
    return _runs_action(BulkAction.DELETE)


def _runs_action(action: BulkAction) -> ResponseReturnValue:
    context = web_context()
    only_failed = request.form.get("only_failed") == "1"
    keys = _keys(RunKey.parse, lambda: _matching_runs(list_args(RUN_STATES)), action)

    def act(dry_run: bool) -> BulkResult:
        return bulk_runs(context.settings, context.db, keys, action, dry_run=dry_run, only_failed=only_failed)

    return _preview_or_do(action, keys, act, "ui.runs", {"only_failed": "1"} if only_failed else {})


@ui.route("/task-instances/bulk", methods=["POST"])
def task_instances_bulk() -> ResponseReturnValue:
    """Clear or mark the selected task instances: a dry-run preview first, then (``confirmed=1``) for real."""
    context = web_context()
    action = _action(TASK_INSTANCE_ACTIONS)
    keys = _keys(TaskInstanceKey.parse, lambda: _matching_tis(list_args(TI_STATES)), action)

    def act(dry_run: bool) -> BulkResult:
        return bulk_task_instances(context.settings, context.db, keys, action, dry_run=dry_run)

    return _preview_or_do(action, keys, act, "ui.task_instances", {})


def _action(allowed: Sequence[BulkAction]) -> BulkAction:
    value = request.form.get("action", "")
    for action in allowed:
        if action.value == value:
            return action
    raise InvalidInput(f"choose an action: {', '.join(a.value for a in allowed)}")


def _keys(parse: Callable[[str], K], matching: Callable[[], list[K]], action: BulkAction) -> list[K]:
    if request.form.get("all_matching") == "1":
        keys = matching()
    else:
        keys = sorted({parse(text) for text in request.form.getlist("key")})
    refused = hidden(CAN_DELETE if action is BulkAction.DELETE else CAN_EDIT)
    for key in keys:
        if key.dag_id in refused:
            raise PermissionDenied(f"DAG {key.dag_id!r} does not let your role change it (its access_control)")
    return keys


def _matching_runs(args: ListArgs) -> list[RunKey]:
    page = query_runs(web_context().db, _run_filter(args), Slice(BULK_LIMIT + 1, 0, RUN_ORDER))
    _check_total(page.total)
    return [RunKey(r.dag_id, r.run_id) for r in page.items]


def _matching_tis(args: ListArgs) -> list[TaskInstanceKey]:
    page = query_task_instances(web_context().db, _ti_filter(args), Slice(BULK_LIMIT + 1, 0, TI_ORDER))
    _check_total(page.total)
    return [TaskInstanceKey(t.dag_id, t.run_id, t.task_id, t.map_index) for t in page.items]


def _check_total(total: int) -> None:
    if total > BULK_LIMIT:
        raise InvalidInput(f"{total} rows match the filter; narrow it to at most {BULK_LIMIT} for one action")


def _preview_or_do(
    action: BulkAction,
    keys: Sequence[RunKey | TaskInstanceKey],
    act: Callable[[bool], BulkResult],
    list_endpoint: str,
    options: dict[str, str],
) -> ResponseReturnValue:
    back = local_path(request.form.get("next"), url_for(list_endpoint))
    if request.form.get("confirmed") != "1":
        result = act(True)
        return render_page(
            "bulk_preview.html",
            title=f"{ACTION_LABELS[action]}: preview",
            result=result,
            label=ACTION_LABELS[action],
            keys=[k.text for k in keys],
            options=options,
            post_url=request.full_path.rstrip("?"),
            back=back,
        )
    result = act(False)
    noun = "task instance" if result.changes and result.changes[0].task_id else "run"
    count = len(result.changes)
    flash(f"{ACTION_LABELS[action]}: {count} {noun}{'' if count == 1 else 's'} changed.", "success")
    return redirect(back, code=303)
