"""``/``: the DAG list (search, tags, paused filter) with the health strip above it."""

from __future__ import annotations

from flask import request

from dagflow.services.dags import DagFilter, query_dags
from dagflow.services.listing import Slice
from dagflow.web.context import web_context
from dagflow.www.common import render_page, ui

PAGE_SIZE = 50


@ui.route("/")
def dags() -> tuple[str, int]:
    """The DAG list."""
    search = request.args.get("search", "").strip()
    tags = tuple(t for t in request.args.getlist("tags") if t)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    flt = DagFilter(tags=tags, dag_id_pattern=search or None)
    page = query_dags(web_context().db, flt, Slice(limit=PAGE_SIZE, offset=offset))
    return render_page("dags.html", title="DAGs", page=page, search=search, tags=tags, offset=offset, limit=PAGE_SIZE)
