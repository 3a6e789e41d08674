"""A DAG's runs: trigger (the Params form), the run page (conf, dates, Gantt, note) and its actions.

Actions are POSTs with a confirm step: the first POST shows what will happen (the task
instances a clear would touch), the second (``confirmed=1``) does it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pendulum
from flask import flash, request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import DagflowError, InvalidInput
from dagflow.services.dag_runs import RunFilter, get_run, mark_run, query_runs, set_run_note, trigger_dag
from dagflow.services.dags import get_dag, get_serialized_dag
from dagflow.services.grid import cached_serialized_dag
from dagflow.services.listing import Slice
from dagflow.services.run_actions import RunClear, clear_in_run, preview, retry_failed, run_tries
from dagflow.services.task_instances import TaskInstanceFilter, query_task_instances
from dagflow.state import DagRunState
from dagflow.web.context import web_context
from dagflow.www.common import done, render_page, ui
from dagflow.www.gantt import CHART_WIDTH, LABEL_WIDTH, gantt
from dagflow.www.params_form import conf_from_form, param_fields

#: How many recent runs' confs the trigger form offers to start from.
RECENT_CONFS = 5
MAX_TASK_INSTANCES = 2000


def _confirmed() -> bool:
    return request.form.get("confirmed") == "1"


def _flag(name: str) -> bool:
    return request.form.get(name) in ("1", "true", "on")


@ui.route("/dags/<dag_id>/trigger", methods=["GET", "POST"])
def trigger(dag_id: str) -> ResponseReturnValue:
    """The trigger form (GET) and the trigger itself (POST): params fields, raw conf JSON, logical date, run id."""
    context = web_context()
    dag = get_dag(context.db, dag_id)
    sdag = get_serialized_dag(context.db, dag_id)
    recent = query_runs(context.db, RunFilter(dag_id=dag_id), Slice(limit=RECENT_CONFS, order_by=("-logical_date",)))
    confs = [
        (r.run_id, json.dumps(r.conf, indent=2, sort_keys=True, ensure_ascii=False)) for r in recent.items if r.conf
    ]
    values: dict[str, Any] | None = None
    error = None
    if request.method == "POST":
        try:
            conf = conf_from_form(sdag.params, request.form, request.form.get("conf", ""))
            values = conf
            created = trigger_dag(
                context.settings,
                context.db,
                dag_id,
                conf=conf,
                run_id=request.form.get("run_id", "").strip() or None,
                logical_date=_datetime(request.form.get("logical_date", "")),
            )
        except DagflowError as exc:
            error = str(exc).strip().splitlines()[0]
        else:
            if dag.is_paused:
                flash(f"DAG {dag_id} is paused: the run starts once it is unpaused.", "error")
            return done(f"Triggered {dag_id}: run {created.run_id}.", url_for("ui.grid", dag_id=dag_id))
    return render_page(
        "trigger.html",
        title=f"Trigger {dag_id}",
        status=422 if error else 200,
        dag=dag,
        fields=param_fields(sdag.params, values),
        conf_text=request.form.get("conf", "") if request.method == "POST" else "",
        confs=confs,
        error=error,
        form=request.form,
    )


def _datetime(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        parsed = pendulum.parse(text, tz="UTC")
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        raise InvalidInput(f"logical date {text!r} is not a date and time (e.g. 2024-01-31T09:00:00Z)") from None
    if not isinstance(parsed, datetime):
        raise InvalidInput(f"logical date {text!r} is not a date and time (e.g. 2024-01-31T09:00:00Z)")
    return parsed


@ui.route("/dags/<dag_id>/runs/<run_id>")
def dag_run(dag_id: str, run_id: str) -> tuple[str, int]:
    """A run: conf, dates, duration, its task instances, a Gantt of every try, the note."""
    db = web_context().db
    dag = get_dag(db, dag_id)
    run = get_run(db, dag_id, run_id)
    found = query_task_instances(db, TaskInstanceFilter(dag_id=dag_id, run_id=run_id), Slice(limit=MAX_TASK_INSTANCES))
    order = {task_id: i for i, task_id in enumerate(cached_serialized_dag(db, dag_id).topological_order())}
    tis = sorted(found.items, key=lambda t: (order.get(t.task_id, len(order)), t.task_id, t.map_index))
    chart = gantt(run_tries(db, dag_id, run_id), pendulum.now("UTC"))
    return render_page(
        "dag_run.html",
        title=f"{dag_id} / {run_id}",
        dag=dag,
        run=run,
        tis=tis,
        failed=[t for t in tis if t.state in ("failed", "upstream_failed")],
        chart=chart,
        chart_width=CHART_WIDTH,
        label_width=LABEL_WIDTH,
        active=run.state in ("queued", "running"),
    )


def _confirm_page(title: str, message: str, action: str, rows: Sequence[Any] | None, **fields: Any) -> tuple[str, int]:
    cancel = url_for("ui.dag_run", dag_id=request.view_args["dag_id"], run_id=request.view_args["run_id"])  # type: ignore[index]
    return render_page(
        "confirm.html", title=title, message=message, action=action, rows=rows, fields=fields, cancel_url=cancel
    )


@ui.route("/dags/<dag_id>/runs/<run_id>/clear", methods=["POST"])
def clear_run(dag_id: str, run_id: str) -> ResponseReturnValue:
    """Clear a run's task instances (all, or only the failed ones) after a preview of what it touches."""
    context = web_context()
    only_failed = _flag("only_failed")
    clear = RunClear(dag_id, run_id, only_failed=only_failed)
    if not _confirmed():
        rows = preview(context.settings, context.db, clear)
        what = "failed task instances" if only_failed else "task instances"
        return _confirm_page(
            f"Clear {run_id}?", f"Clearing runs these {len(rows)} {what} again:", request.path, rows,
            only_failed="1" if only_failed else "0",
        )  # fmt: skip
    cleared = clear_in_run(context.settings, context.db, clear)
    return done(
        f"Cleared {len(cleared)} task instance(s) of {run_id}.", url_for("ui.dag_run", dag_id=dag_id, run_id=run_id)
    )


@ui.route("/dags/<dag_id>/runs/<run_id>/retry-failed", methods=["POST"])
def retry_failed_tasks(dag_id: str, run_id: str) -> ResponseReturnValue:
    """Re-run the run's failed and upstream_failed task instances (every try is kept)."""
    context = web_context()
    if not _confirmed():
        rows = preview(context.settings, context.db, RunClear(dag_id, run_id, only_failed=True))
        return _confirm_page(
            f"Retry failed of {run_id}?", f"These {len(rows)} task instances run again:", request.path, rows
        )
    cleared = retry_failed(context.settings, context.db, dag_id, run_id)
    return done(
        f"Retrying {len(cleared)} task instance(s) of {run_id}.", url_for("ui.dag_run", dag_id=dag_id, run_id=run_id)
    )


@ui.route("/dags/<dag_id>/runs/<run_id>/mark", methods=["POST"])
def mark_run_state(dag_id: str, run_id: str) -> ResponseReturnValue:
    """Mark a run success or failed (its unfinished task instances with it), after a confirm step."""
    state = request.form.get("state", "")
    if state not in ("success", "failed"):
        raise InvalidInput("a run can be marked 'success' or 'failed'")
    db = web_context().db
    if not _confirmed():
        get_run(db, dag_id, run_id)
        message = f"The run and its unfinished task instances become {state}."
        return _confirm_page(f"Mark {run_id} {state}?", message, request.path, None, state=state)
    mark_run(db, dag_id, run_id, DagRunState(state))
    return done(f"Marked {run_id} {state}.", url_for("ui.dag_run", dag_id=dag_id, run_id=run_id))


@ui.route("/dags/<dag_id>/runs/<run_id>/note", methods=["POST"])
def run_note(dag_id: str, run_id: str) -> ResponseReturnValue:
    """Replace the run's note (empty clears it)."""
    note = request.form.get("note", "").strip() or None
    set_run_note(web_context().db, dag_id, run_id, note)
    return done("Note saved.", url_for("ui.dag_run", dag_id=dag_id, run_id=run_id))
