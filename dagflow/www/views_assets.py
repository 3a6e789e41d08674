"""``/assets``: every asset (URI, name, group, producing tasks, consuming DAGs, last event); ``/assets/<id>``: its events.

DAGs hidden from the caller by ``access_control`` are left out of the producer and consumer columns.
"""

from __future__ import annotations

from dataclasses import replace

from flask import request

from dagflow.services.assets import (
    AssetSummary,
    EventFilter,
    created_dag_runs,
    get_asset,
    page_asset_events,
    page_assets,
)
from dagflow.services.listing import Slice
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context
from dagflow.www.common import render_page, ui

PAGE_SIZE = 50


def _offset() -> int:
    return max(request.args.get("offset", 0, type=int) or 0, 0)


def _visible(asset: AssetSummary, hidden: frozenset[str]) -> AssetSummary:
    """``asset`` without the DAGs (and their tasks) the caller may not read."""
    if not hidden:
        return asset
    return replace(
        asset,
        consuming_dags=[d for d in asset.consuming_dags if d not in hidden],
        producing_tasks=[t for t in asset.producing_tasks if t.split(".", 1)[0] not in hidden],
        queued_for=[d for d in asset.queued_for if d not in hidden],
    )


@ui.route("/assets")
def assets() -> tuple[str, int]:
    """The assets by URI (``?uri=`` a part of the URI; ``?dag_id=`` produced or consumed by that DAG)."""
    uri = request.args.get("uri", "").strip()
    dag_id = request.args.get("dag_id", "").strip()
    offset = _offset()
    hidden = hidden_dags()
    part = Slice(limit=PAGE_SIZE, offset=offset, order_by=("uri",))
    page = page_assets(web_context().db, part, uri_pattern=uri or None, dag_ids=(dag_id,) if dag_id else ())
    return render_page(
        "assets.html",
        title="Assets",
        assets=[_visible(a, hidden) for a in page.items],
        total=page.total,
        uri=uri,
        dag_id=dag_id,
        offset=offset,
        limit=PAGE_SIZE,
    )


@ui.route("/assets/<int:asset_id>")
def asset(asset_id: int) -> tuple[str, int]:
    """One asset: who produces and consumes it, and its events (newest first) with the run that made each."""
    db = web_context().db
    hidden = hidden_dags()
    found = _visible(get_asset(db, asset_id), hidden)
    offset = _offset()
    part = Slice(limit=PAGE_SIZE, offset=offset, order_by=("-timestamp",))
    events = page_asset_events(db, part, EventFilter(asset_id=asset_id))
    triggered = created_dag_runs(db, [e.id for e in events.items])
    return render_page(
        "asset.html",
        title=found.name or found.uri,
        asset=found,
        events=events.items,
        total=events.total,
        triggered={k: [r for r in v if r["dag_id"] not in hidden] for k, v in triggered.items()},
        hidden=hidden,
        offset=offset,
        limit=PAGE_SIZE,
    )
