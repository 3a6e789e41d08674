"""``/dags/<dag_id>/backfill``: the backfill form (with a dry run listing the runs it would make) and progress.

Creating a backfill stores it; the scheduler makes its runs a few at a time. The progress
of this DAG's backfills is a fragment that htmx polls while one is running.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import InvalidInput
from dagflow.models.backfill import REPROCESS_NONE
from dagflow.scheduler.backfill import REPROCESS_BEHAVIORS
from dagflow.services import backfills as service
from dagflow.services.dags import get_dag
from dagflow.web.context import web_context
from dagflow.www.common import done, render_page, ui
from dagflow.www.list_filters import parse_when
from dagflow.www.views_admin import confirm_page, confirmed

#: Seconds between two polls of the progress while a backfill runs.
PROGRESS_POLL_SECONDS = 3
#: Most backfills the progress list shows.
SHOWN_BACKFILLS = 20


def _progress(dag_id: str) -> list[dict[str, Any]]:
    db = web_context().db
    backfills = service.list_backfills(db, dag_id)[:SHOWN_BACKFILLS]
    return [service.backfill_progress(db, b.id).to_dict() for b in backfills]


@ui.route("/dags/<dag_id>/backfill")
def backfill(dag_id: str) -> tuple[str, int]:
    """The form and this DAG's backfills with their progress."""
    return _page(dag_id, form={"reprocess_behavior": REPROCESS_NONE}, plan=None)


def _page(dag_id: str, *, form: dict[str, Any], plan: service.BackfillPlan | None) -> tuple[str, int]:
    context = web_context()
    return render_page(
        "backfill.html",
        title=f"{dag_id}: backfill",
        dag=get_dag(context.db, dag_id),
        tab="backfill",
        form=form,
        plan=plan,
        behaviors=REPROCESS_BEHAVIORS,
        backfills=_progress(dag_id),
        poll=PROGRESS_POLL_SECONDS,
        scheduler_running=service.scheduler_running(context.settings, context.db),
    )


@ui.route("/dags/<dag_id>/backfill/progress")
def backfill_progress(dag_id: str) -> tuple[str, int]:
    """The progress fragment (htmx swaps it in; it stops polling once nothing runs)."""
    get_dag(web_context().db, dag_id)
    return render_page(
        "_backfill_progress.html", title="", dag_id=dag_id, backfills=_progress(dag_id), poll=PROGRESS_POLL_SECONDS
    )


@ui.route("/dags/<dag_id>/backfill", methods=["POST"])
def create_backfill(dag_id: str) -> ResponseReturnValue:
    """With ``dry_run``: the page again, listing the runs the backfill would create; else create it."""
    context = web_context()
    names = ("start", "end", "reprocess_behavior", "max_active_runs", "conf")
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in names}
    form["run_backwards"] = request.form.get("run_backwards") == "1"
    start, end = parse_when(form["start"], "start"), parse_when(form["end"], "end")
    if start is None or end is None:
        raise InvalidInput("a backfill needs a start and an end date")
    if end < start:
        raise InvalidInput("the end date is before the start date")
    max_runs = form["max_active_runs"]
    if max_runs and not max_runs.isdigit():
        raise InvalidInput(f"max active runs must be a positive whole number, not {max_runs[:20]!r}")
    dry_run = request.form.get("dry_run") == "1"
    plan = service.create_backfill(
        context.settings,
        context.db,
        dag_id,
        start,
        end,
        reprocess_behavior=form["reprocess_behavior"] or REPROCESS_NONE,
        max_active_runs=int(max_runs) if max_runs else None,
        run_backwards=form["run_backwards"],
        conf=_conf(form["conf"]),
        dry_run=dry_run,
    )
    if dry_run:
        return _page(dag_id, form=form, plan=plan)
    count = len(plan.to_run)
    message = f"Backfill {plan.backfill_id} created: {count} run{'' if count == 1 else 's'}."
    return done(message, url_for("ui.backfill", dag_id=dag_id))


def _conf(text: str) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        conf = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"conf is not valid JSON ({exc.msg})") from exc
    if not isinstance(conf, dict):
        raise InvalidInput("conf must be a JSON object")
    return conf


@ui.route("/dags/<dag_id>/backfills/<int:backfill_id>/cancel", methods=["POST"])
def cancel_backfill(dag_id: str, backfill_id: int) -> ResponseReturnValue:
    """Cancel a running backfill (after a confirm step): no new runs; its queued runs fail."""
    if not confirmed():
        question = f"Cancel backfill {backfill_id} of {dag_id}? Its queued runs fail; running runs finish."
        return confirm_page("Cancel backfill", question, request.path, f"/dags/{dag_id}/backfill")
    service.cancel_backfill(web_context().db, backfill_id)
    return done(f"Backfill {backfill_id} cancelled.", url_for("ui.backfill", dag_id=dag_id))


@ui.route("/dags/<dag_id>/backfills/<int:backfill_id>/pause", methods=["POST"])
def pause_backfill(dag_id: str, backfill_id: int) -> ResponseReturnValue:
    """Pause a backfill (after a confirm step): it starts no new runs; its active runs go on."""
    if not confirmed():
        question = f"Pause backfill {backfill_id} of {dag_id}? It starts no new runs until unpaused."
        return confirm_page("Pause backfill", question, request.path, f"/dags/{dag_id}/backfill")
    service.set_backfill_paused(web_context().db, backfill_id, paused=True)
    return done(f"Backfill {backfill_id} paused.", url_for("ui.backfill", dag_id=dag_id))


@ui.route("/dags/<dag_id>/backfills/<int:backfill_id>/unpause", methods=["POST"])
def unpause_backfill(dag_id: str, backfill_id: int) -> ResponseReturnValue:
    """Unpause a paused backfill (after a confirm step): the scheduler makes its remaining runs again."""
    if not confirmed():
        question = f"Unpause backfill {backfill_id} of {dag_id}? The scheduler starts its remaining runs."
        return confirm_page("Unpause backfill", question, request.path, f"/dags/{dag_id}/backfill")
    service.set_backfill_paused(web_context().db, backfill_id, paused=False)
    return done(f"Backfill {backfill_id} unpaused.", url_for("ui.backfill", dag_id=dag_id))
