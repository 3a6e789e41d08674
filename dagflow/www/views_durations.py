"""The duration chart: each task's duration over the DAG's recent runs, as SVG drawn on the server (no JS library).

``/dags/<dag_id>/durations`` shows every task (a page of them at a time);
``/dags/<dag_id>/tasks/<task_id>/durations`` is one task's chart as a fragment that other
pages (the task instance page) load with htmx.
"""

from __future__ import annotations

from flask import request

from dagflow.sdk.ids import check_key
from dagflow.services.dags import get_dag
from dagflow.services.durations import task_durations
from dagflow.web.context import web_context
from dagflow.www.common import render_page, ui
from dagflow.www.duration_chart import layout

#: Runs a chart covers unless ``?runs=`` says otherwise, and the most it may ask for.
DEFAULT_RUNS, MAX_RUNS = 25, 200
#: Tasks per page of the DAG's charts.
TASKS_PER_PAGE = 20


def _runs() -> int:
    return min(max(request.args.get("runs", DEFAULT_RUNS, type=int) or DEFAULT_RUNS, 1), MAX_RUNS)


@ui.route("/dags/<dag_id>/durations")
def durations(dag_id: str) -> tuple[str, int]:
    """Every task's duration chart over the last ``runs`` runs (``?task=`` for one task)."""
    db = web_context().db
    dag = get_dag(db, dag_id)
    task = request.args.get("task", "").strip()
    every = task_durations(db, dag_id, last_runs=_runs(), task_ids=[check_key("task_id", task)] if task else None)
    offset = max(request.args.get("offset", 0, type=int) or 0, 0)
    charts = [layout(t) for t in every[offset : offset + TASKS_PER_PAGE]]
    return render_page(
        "durations.html",
        title=f"{dag_id}: task durations",
        dag=dag,
        tab="durations",
        charts=charts,
        runs=_runs(),
        task=task,
        total=len(every),
        offset=offset,
        limit=TASKS_PER_PAGE,
    )


@ui.route("/dags/<dag_id>/tasks/<task_id>/durations")
def task_duration_chart(dag_id: str, task_id: str) -> tuple[str, int]:
    """One task's chart alone (an htmx fragment)."""
    found = task_durations(web_context().db, dag_id, last_runs=_runs(), task_ids=[check_key("task_id", task_id)])
    return render_page("_duration_chart.html", title="", chart=layout(found[0]) if found else None)
