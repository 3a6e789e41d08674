"""A task instance: its tries, the log of each (live while running, filtered, downloadable), XComs; its actions.

The actions include the task switches (``services.task_switches``): turn the task off for this run or for
every run to come, with a reason, and turn it back on.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import InvalidInput
from dagflow.services.approvals import APPROVAL_OPERATOR, decide
from dagflow.services.clearing import MarkRequest, mark_task_instances
from dagflow.services.dags import get_dag, get_serialized_dag
from dagflow.services.dependencies import task_instance_dependencies
from dagflow.services.grid import task_marks
from dagflow.services.listing import Slice
from dagflow.services.rendered import rendered_fields
from dagflow.services.run_actions import RunClear, clear_in_run, preview
from dagflow.services.secrets import output_masker
from dagflow.services.task_instances import (
    TaskInstanceFilter,
    get_task_instance,
    query_task_instances,
    set_task_instance_note,
    task_instance_tries,
)
from dagflow.services.task_logs import task_log as read_task_log
from dagflow.services.task_switches import disable_task as switch_off
from dagflow.services.task_switches import enable_task as switch_on
from dagflow.services.task_switches import list_switches
from dagflow.services.xcoms import task_xcoms
from dagflow.state import AWAITING_DECISION, TaskInstanceState
from dagflow.web.context import web_context
from dagflow.www.common import done, render_page, ui
from dagflow.www.grid_cells import switch_title
from dagflow.www.log_view import LEVELS, complete_lines, level_after, log_lines

LOG_POLL_SECONDS = 2
#: The log panel shows at most the last this many matching lines (Download has them all).
LOG_MAX_LINES = 5000
MAPPED_LIMIT = 1000
MARKABLE = ("success", "failed", "skipped")


def _map_index() -> int:
    value = request.values.get("map_index", "-1")
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"map_index must be a number, not {value!r}") from None


def _try(default: int) -> int:
    value = request.values.get("try", "")
    if not value:
        return default
    if not value.isdigit():
        raise InvalidInput(f"try must be a number, not {value!r}")
    return int(value)


def _page_url(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    args: dict[str, Any] = {"map_index": map_index} if map_index >= 0 else {}
    return url_for("ui.task_instance", dag_id=dag_id, run_id=run_id, task_id=task_id, **args)


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>")
def task_instance(dag_id: str, run_id: str, task_id: str) -> tuple[str, int]:
    """The task instance page (``?map_index=``, ``?try=``); a mapped task without a map index lists its instances."""
    db = web_context().db
    dag = get_dag(db, dag_id)
    sdag = get_serialized_dag(db, dag_id)
    task = sdag.tasks.get(task_id)
    map_index = _map_index()
    if task is not None and task.is_mapped and map_index < 0:
        mapped = query_task_instances(
            db, TaskInstanceFilter(dag_id=dag_id, run_id=run_id, task_ids=(task_id,)), Slice(limit=MAPPED_LIMIT)
        )
        return render_page(
            "mapped.html", title=f"{task_id} (mapped)", dag=dag, run_id=run_id, task_id=task_id, mapped=mapped
        )
    ti = get_task_instance(db, dag_id, run_id, task_id, map_index)
    tries = task_instance_tries(db, dag_id, run_id, task_id, map_index)
    selected = _try(ti.try_number)
    pending = ti.state in (None, "scheduled", "queued", "up_for_retry", "up_for_reschedule", "deferred")
    waiting = ti.operator == APPROVAL_OPERATOR and TaskInstanceState(ti.state or "none") in AWAITING_DECISION
    return render_page(
        "task_instance.html",
        title=task_id if map_index < 0 else f"{task_id} [{map_index}]",
        dag=dag,
        task=task,
        ti=ti,
        tries=tries,
        selected=selected,
        rendered=rendered_fields(
            db, dag_id, run_id, task_id, map_index, template_fields=task.template_fields if task else None
        ),
        xcoms=[x for x in task_xcoms(db, dag_id, run_id, task_id, map_index) if not x.key.startswith("__")],
        approval=waiting,
        reasons=task_instance_dependencies(db, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index)
        if pending
        else None,
        levels=LEVELS,
        page_url=_page_url(dag_id, run_id, task_id, map_index),
        log_url=url_for("ui.task_log", dag_id=dag_id, run_id=run_id, task_id=task_id),
        map_index=map_index,
        markable=MARKABLE,
        marks=task_marks(task) if task else (),
        group_limits=sdag.group_limits(task_id) if task else (),
        switches=[s for s in list_switches(db, dag_id) if s.task_id == task_id and s.run_id in (None, run_id)],
        switch_title=switch_title,
    )


def _log_text(dag_id: str, run_id: str, task_id: str, map_index: int, number: int) -> str:
    context = web_context()
    text = read_task_log(
        context.settings, context.db, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index,
        try_number=number,
    )  # fmt: skip
    return output_masker(context.db).mask(text)


#: Task instance states whose current try may still write to its log.
LIVE_STATES = ("running", "queued", "restarting", "deferred", "up_for_reschedule")


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log")
def task_log(dag_id: str, run_id: str, task_id: str) -> tuple[str, int]:
    """The log panel of one try (``?try=``), filtered by ``?level=`` and ``?q=``; a live try's panel tails itself.

    While the try runs, the panel ends with a poller that asks ``task_log_tail`` for the bytes after
    what it shows (``offset``), so a long log is read once, not every few seconds.
    """
    db = web_context().db
    map_index = _map_index()
    ti = get_task_instance(db, dag_id, run_id, task_id, map_index)
    number = _try(ti.try_number)
    level, contains = request.args.get("level", ""), request.args.get("q", "")
    live = number == ti.try_number and ti.state in LIVE_STATES
    text = _log_text(dag_id, run_id, task_id, map_index, number) if number >= 1 else ""
    if live:
        text = complete_lines(text)
    matching = log_lines(text, level=level, contains=contains)
    total = len(text.splitlines())
    return render_page(
        "_log.html",
        title="log",
        lines=matching[-LOG_MAX_LINES:],
        matching=len(matching),
        total=total,
        live=live,
        tail=_tail_url(
            dag_id, run_id, task_id, map_index, number, len(text.encode()), total, level_after(text), len(matching)
        )
        if live
        else None,
        poll=LOG_POLL_SECONDS,
        number=number,
        download=url_for(
            "ui.task_log_download", dag_id=dag_id, run_id=run_id, task_id=task_id, **_log_args(map_index, number)
        ),
    )


def _tail_url(
    dag_id: str, run_id: str, task_id: str, map_index: int, number: int, offset: int, lines: int, level_at: str,
    matching: int,
) -> str:  # fmt: skip
    """Where a live panel asks for what follows byte ``offset`` (line ``lines`` + 1, continuing ``level_at``).

    ``matching`` is how many lines the panel counts as matching its filter so far (its counter goes on from it).
    """
    args: dict[str, Any] = {
        **_log_args(map_index, number), "offset": offset, "line": lines, "at": level_at, "matching": matching,
    }  # fmt: skip
    for name in ("level", "q"):
        if request.args.get(name):
            args[name] = request.args[name]
    return url_for("ui.task_log_tail", dag_id=dag_id, run_id=run_id, task_id=task_id, **args)


def _count(name: str) -> int:
    value = request.args.get(name, "0")
    if not value.isdigit():
        raise InvalidInput(f"{name} must be a whole number, not {value[:20]!r}")
    return int(value)


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log/tail")
def task_log_tail(dag_id: str, run_id: str, task_id: str) -> tuple[str, int]:
    """The lines a live log panel has not shown yet: the log's bytes from ``?offset=``, and the next poller."""
    db = web_context().db
    map_index = _map_index()
    ti = get_task_instance(db, dag_id, run_id, task_id, map_index)
    number = _try(ti.try_number)
    offset, shown, level_at = _count("offset"), _count("line"), request.args.get("at", "INFO")
    live = number == ti.try_number and ti.state in LIVE_STATES
    context = web_context()
    text = read_task_log(
        context.settings, db, dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index,
        try_number=number, offset=offset,
    ) if number >= 1 else ""  # fmt: skip
    if live:
        text = complete_lines(text)
    text = output_masker(db).mask(text)
    lines = log_lines(
        text, level=request.args.get("level", ""), contains=request.args.get("q", ""), first=shown + 1,
        level_at=level_at,
    )  # fmt: skip
    count = len(text.splitlines())
    matching = _count("matching") + len(lines)
    tail = _tail_url(
        dag_id, run_id, task_id, map_index, number, offset + len(text.encode()), shown + count,
        level_after(text, level_at), matching,
    ) if live else None  # fmt: skip
    return render_page(
        "_log_tail.html", title="log", lines=lines, tail=tail, poll=LOG_POLL_SECONDS, matching=matching,
        total=shown + count,
    )  # fmt: skip


def _log_args(map_index: int, number: int) -> dict[str, Any]:
    return {"map_index": map_index, "try": number} if map_index >= 0 else {"try": number}


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/log/download")
def task_log_download(dag_id: str, run_id: str, task_id: str) -> Response:
    """One try's whole log as a text file."""
    map_index = _map_index()
    ti = get_task_instance(web_context().db, dag_id, run_id, task_id, map_index)
    number = _try(ti.try_number)
    text = _log_text(dag_id, run_id, task_id, map_index, number) if number >= 1 else ""
    suffix = f"_{map_index}" if map_index >= 0 else ""
    name = f"{dag_id}__{run_id}__{task_id}{suffix}__try{number}.log".replace(":", "-").replace("+", "_")
    response = Response(text, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _confirmed() -> bool:
    return request.form.get("confirmed") == "1"


def _flag(name: str) -> bool:
    return request.form.get(name) in ("1", "true", "on")


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/clear", methods=["POST"])
def clear_task(dag_id: str, run_id: str, task_id: str) -> ResponseReturnValue:
    """Clear this task in its run (with its upstream / downstream, or only if failed), after a dry-run preview."""
    context = web_context()
    clear = RunClear(
        dag_id,
        run_id,
        (task_id,),
        upstream=_flag("upstream"),
        downstream=_flag("downstream"),
        only_failed=_flag("only_failed"),
    )
    back = _page_url(dag_id, run_id, task_id, _map_index())
    if not _confirmed():
        rows = preview(context.settings, context.db, clear)
        fields = {n: "1" for n in ("upstream", "downstream", "only_failed") if _flag(n)}
        return render_page(
            "confirm.html", title=f"Clear {task_id}?", message=f"These {len(rows)} task instances run again:",
            action=request.full_path, rows=rows, fields=fields, cancel_url=back,
        )  # fmt: skip
    cleared = clear_in_run(context.settings, context.db, clear)
    return done(f"Cleared {len(cleared)} task instance(s).", back)


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/mark", methods=["POST"])
def mark_task(dag_id: str, run_id: str, task_id: str) -> ResponseReturnValue:
    """Mark this task instance (and, with ``downstream``, its descendants) success, failed or skipped."""
    state = request.form.get("state", "")
    if state not in MARKABLE:
        raise InvalidInput(f"a task instance can be marked {', '.join(MARKABLE)}")
    map_index = _map_index()
    back = _page_url(dag_id, run_id, task_id, map_index)
    downstream = _flag("downstream")
    if not _confirmed():
        message = f"{task_id}{' and its downstream tasks' if downstream else ''} become {state} in run {run_id}."
        fields = {"state": state, **({"downstream": "1"} if downstream else {})}
        return render_page(
            "confirm.html", title=f"Mark {task_id} {state}?", message=message, action=request.full_path, rows=None,
            fields=fields, cancel_url=back,
        )  # fmt: skip
    context = web_context()
    mark = MarkRequest(
        dag_id, run_id, task_id, TaskInstanceState(state),
        map_indexes=(map_index,) if map_index >= 0 and not downstream else None, downstream=downstream,
    )  # fmt: skip
    marked = mark_task_instances(context.settings, context.db, mark)
    return done(f"Marked {len(marked)} task instance(s) {state}.", back)


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/approve", methods=["POST"])
def approve(dag_id: str, run_id: str, task_id: str) -> ResponseReturnValue:
    """Approve (``decision=approve``) or reject a waiting approval task, with an optional comment."""
    decision = request.form.get("decision", "")
    if decision not in ("approve", "reject"):
        raise InvalidInput("decision must be 'approve' or 'reject'")
    map_index = _map_index()
    comment = request.form.get("comment", "").strip() or None
    decide(
        web_context().db, dag_id=dag_id, run_id=run_id, task_id=task_id, approve=decision == "approve",
        comment=comment, map_index=map_index,
    )  # fmt: skip
    return done(f"{task_id} {decision}d.", _page_url(dag_id, run_id, task_id, map_index))


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/note", methods=["POST"])
def task_note(dag_id: str, run_id: str, task_id: str) -> ResponseReturnValue:
    """Replace the task instance's note (empty clears it)."""
    map_index = _map_index()
    note = request.form.get("note", "").strip() or None
    set_task_instance_note(web_context().db, dag_id, run_id, task_id, note, map_index)
    return done("Note saved.", _page_url(dag_id, run_id, task_id, map_index))


def _switch_run(run_id: str) -> str | None:
    """``scope=run``: this run only; ``scope=all``: every run to come (None)."""
    scope = request.form.get("scope", "")
    if scope not in ("run", "all"):
        raise InvalidInput("scope must be 'run' (this run) or 'all' (all future runs)")
    return run_id if scope == "run" else None


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/disable", methods=["POST"])
def disable_task(dag_id: str, run_id: str, task_id: str) -> ResponseReturnValue:
    """Switch the task off in this run (``scope=run``) or in every run to come (``scope=all``), with a reason."""
    target = _switch_run(run_id)
    reason = request.form.get("reason", "").strip() or None
    switch_off(web_context().db, dag_id, task_id, run_id=target, reason=reason)
    where = f"in run {run_id}" if target else "for all future runs"
    return done(f"{task_id} disabled {where}.", _page_url(dag_id, run_id, task_id, _map_index()))


@ui.route("/dags/<dag_id>/runs/<run_id>/tasks/<task_id>/enable", methods=["POST"])
def enable_task(dag_id: str, run_id: str, task_id: str) -> ResponseReturnValue:
    """Undo a switch: ``scope=run`` for this run's, ``scope=all`` for the one on every run to come."""
    target = _switch_run(run_id)
    switch_on(web_context().db, dag_id, task_id, run_id=target)
    where = f"in run {run_id}" if target else "for all future runs"
    return done(f"{task_id} enabled again {where}.", _page_url(dag_id, run_id, task_id, _map_index()))
