"""``/``: the DAG list (search, tags, paused filter, latest runs) under the health strip; pause and unpause."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from dagflow.exceptions import InvalidInput
from dagflow.services.dag_runs import set_paused
from dagflow.services.dags import DagFilter, dag_tags, get_dag, query_dags
from dagflow.services.listing import Slice
from dagflow.services.overview import health_summary, recent_runs
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context
from dagflow.www.common import done, local_path, render_page, ui

PAGE_SIZE = 50
#: The paused filter of the list: ``all``, ``active`` (unpaused) or ``paused``, as Airflow's tabs.
PAUSED_FILTER = {"all": None, "active": False, "paused": True}
_PAUSE_MESSAGES = {
    "true": "The scheduler starts no new run and no new task until the DAG is unpaused; running tasks finish.",
    "false": "The scheduler starts runs and tasks of this DAG again (a due scheduled run may start at once).",
}


@ui.route("/")
def dags() -> tuple[str, int]:
    """The DAG list."""
    context = web_context()
    search = request.args.get("search", "").strip()
    tags = tuple(t for t in request.args.getlist("tags") if t)
    status = request.args.get("status", "all")
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    hidden = hidden_dags()  # access_control
    flt = DagFilter(tags=tags, dag_id_pattern=search or None, paused=PAUSED_FILTER.get(status), hidden_dag_ids=hidden)
    page = query_dags(context.db, flt, Slice(limit=PAGE_SIZE, offset=offset))
    return render_page(
        "dags.html",
        title="DAGs",
        page=page,
        runs=recent_runs(context.db, [d.dag_id for d in page.items]),
        health=health_summary(context.settings, context.db),
        all_tags=dag_tags(context.db, hidden_dag_ids=hidden),
        search=search,
        tags=tags,
        paused_filter=status if status in PAUSED_FILTER else "all",
        offset=offset,
        limit=PAGE_SIZE,
    )


@ui.route("/health-strip")
def health_strip() -> tuple[str, int]:
    """The health strip alone (htmx polls it)."""
    context = web_context()
    return render_page("_health.html", title="Health", health=health_summary(context.settings, context.db))


@ui.route("/dags/<dag_id>/pause", methods=["POST"])
def pause(dag_id: str) -> ResponseReturnValue:
    """Pause (``is_paused=true``) or unpause (``false``) a DAG after a confirm step, then go back where the button was."""
    value = request.form.get("is_paused", "")
    if value not in ("true", "false"):
        raise InvalidInput("is_paused must be 'true' or 'false'")
    context = web_context()
    back = local_path(request.form.get("next"), default=f"/dags/{dag_id}")
    verb = "Pause" if value == "true" else "Unpause"
    if request.form.get("confirmed") != "1":  # without JavaScript: the server asks (dagflow.js asks in the page)
        get_dag(context.db, dag_id)
        fields = {"is_paused": value, "next": back}
        return render_page(
            "confirm.html", title=f"{verb} {dag_id}?", message=_PAUSE_MESSAGES[value], action=request.path,
            rows=None, fields=fields, cancel_url=back,
        )  # fmt: skip
    set_paused(context.settings, context.db, dag_id, paused=value == "true")
    return done(f"DAG {dag_id} {'paused' if value == 'true' else 'unpaused'}.", back)
