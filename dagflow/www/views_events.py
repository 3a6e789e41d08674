"""``/events``: the audit log of who did what and when, filtered and paged (newest first)."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from dagflow.sdk.ids import check_key
from dagflow.services.events import EventFilter, event_names, query_events
from dagflow.services.listing import Slice
from dagflow.web.context import web_context
from dagflow.www.common import render_page, ui
from dagflow.www.list_filters import hidden, parse_when

PAGE_SIZE = 50
#: The query-string filters the page keeps across pages.
FILTERS = ("dag_id", "run_id", "task_id", "event", "owner", "after", "before")


@ui.app_template_filter("json_text")
def json_text(value: Any) -> str:
    """``value`` as JSON text, left for autoescape to escape (``tojson`` shows ``<`` as ``\\u003c``)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@ui.route("/events")
def events() -> tuple[str, int]:
    """The audit log: filter by DAG, run, task, event, user and time."""
    args = {name: request.args.get(name, "").strip()[:250] for name in FILTERS}
    for name in ("dag_id", "task_id"):
        if args[name]:
            check_key(name, args[name])
    flt = EventFilter(
        dag_id=args["dag_id"] or None,
        run_id=args["run_id"] or None,
        task_id=args["task_id"] or None,
        event=args["event"] or None,
        owner=args["owner"] or None,
        after=parse_when(args["after"], "after"),
        before=parse_when(args["before"], "before"),
        hidden_dag_ids=hidden(),
    )
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    db = web_context().db
    page = query_events(db, flt, Slice(limit=PAGE_SIZE, offset=offset, order_by=("-when", "-id")))
    kept = {k: v for k, v in args.items() if v}
    return render_page(
        "events.html",
        title="Audit log",
        page=page,
        args=args,
        kept=kept,
        names=event_names(db),
        offset=offset,
        limit=PAGE_SIZE,
    )
