"""``/dags/<dag_id>``: the grid (runs x tasks) and its live fragment; the graph and the code of a DAG."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from flask import request, url_for
from markupsafe import Markup, escape

from dagflow.services.dag_runs import RunFilter, query_runs
from dagflow.services.dags import dag_source, get_dag
from dagflow.services.grid import STATE_PRIORITY, Grid, cached_serialized_dag, dag_grid, run_task_states, summary_state
from dagflow.services.listing import Slice
from dagflow.web.context import web_context
from dagflow.www.code_view import highlight
from dagflow.www.common import render_page, ui
from dagflow.www.graph_layout import layout
from dagflow.www.grid_cells import row_cells, row_label

#: Runs per grid page (Airflow's default "number of runs": 25).
GRID_RUNS = 25
#: How often (seconds) an active grid refreshes itself.
GRID_POLL_SECONDS = 3
LEGEND = tuple(s for s in STATE_PRIORITY)


def _grid(dag_id: str) -> tuple[Grid, int]:
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    return dag_grid(web_context().db, dag_id, offset=offset, limit=GRID_RUNS), offset


def _run_links(dag_id: str, grid: Grid) -> list[Markup]:
    """Each run's page URL in column order, HTML-escaped once (cells append ``/tasks/<task_id>``: ids are path-safe)."""
    return [escape(url_for("ui.dag_run", dag_id=dag_id, run_id=run.run_id)) for run in grid.runs]


@ui.route("/dags/<dag_id>")
def grid(dag_id: str) -> tuple[str, int]:
    """The grid page: the DAG's header, the legend, the grid (live while runs are active), the pager."""
    db = web_context().db
    dag = get_dag(db, dag_id)
    sdag = cached_serialized_dag(db, dag_id)
    data, offset = _grid(dag_id)
    return render_page(
        "grid.html",
        title=dag_id,
        dag=dag,
        sdag=sdag,
        grid=data,
        links=_run_links(dag_id, data),
        offset=offset,
        limit=GRID_RUNS,
        legend=LEGEND,
        poll=GRID_POLL_SECONDS,
        row_cells=row_cells,
        row_label=row_label,
        tab="grid",
    )


@ui.route("/dags/<dag_id>/grid")
def grid_fragment(dag_id: str) -> tuple[str, int]:
    """The grid alone, for htmx to swap in while runs are active."""
    data, offset = _grid(dag_id)
    return render_page(
        "_grid.html",
        title=dag_id,
        grid=data,
        links=_run_links(dag_id, data),
        offset=offset,
        poll=GRID_POLL_SECONDS,
        row_cells=row_cells,
        row_label=row_label,
    )


@ui.route("/dags/<dag_id>/graph")
def graph(dag_id: str) -> tuple[str, int]:
    """The DAG as boxes and arrows (groups collapsed unless ``?expand=``), coloured by the states of ``?run_id=``."""
    db = web_context().db
    dag = get_dag(db, dag_id)
    sdag = cached_serialized_dag(db, dag_id)
    expanded = frozenset(g for g in request.args.getlist("expand") if g)
    runs = query_runs(db, RunFilter(dag_id=dag_id), Slice(limit=GRID_RUNS, order_by=("-logical_date",))).items
    run_id = request.args.get("run_id") or (runs[0].run_id if runs else None)
    states = run_task_states(db, dag_id, run_id) if run_id else {}
    drawing = layout(sdag, expanded)
    node_states = {node.node_id: summary_state(_sum(states.get(t) for t in node.members)) for node in drawing.nodes}
    return render_page(
        "graph.html",
        title=dag_id,
        dag=dag,
        drawing=drawing,
        node_states=node_states,
        runs=runs,
        run_id=run_id,
        run_link=url_for("ui.dag_run", dag_id=dag_id, run_id=run_id) if run_id else None,
        expanded=sorted(expanded),
        legend=LEGEND,
        tab="graph",
    )


def _sum(parts: Iterable[Counter[str] | None]) -> Counter[str]:
    total: Counter[str] = Counter()
    for part in parts:
        if part:
            total.update(part)
    return total


@ui.route("/dags/<dag_id>/code")
def code(dag_id: str) -> tuple[str, int]:
    """The DAG file's source, highlighted, from the DB."""
    db = web_context().db
    dag = get_dag(db, dag_id)
    source = dag_source(db, dag_id)
    return render_page(
        "code.html", title=dag_id, dag=dag, source=source, highlighted=highlight(source.content), tab="code"
    )
