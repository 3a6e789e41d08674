"""The injection corpus: markup, event handlers, ``javascript:`` URLs and Jinja put into every field a user or a
DAG controls never run in the browser (no dialog, no CSP violation, no live handler) and are never rendered as
templates (the literal text shows).

Fields: a run's conf and note, a task instance's note, the DAG's description and doc_md, a task's description
and doc_md, a Param's default, the task's log, its XCom, a variable's value, an import error's text, a pool's
and a connection's description, and the audit log that repeats the conf.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from dagflow.config import dag_folders
from dagflow.dag_processing.sync import sync_folders
from dagflow.services import connections, pools, variables
from dagflow.services.dag_runs import set_paused, set_run_note, trigger_dag
from dagflow.services.task_instances import set_task_instance_note, task_instance_state
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.slow

SCRIPT = '<script>alert("inj-script")</script>'
IMG = '<img src=x onerror=alert("inj-img")>'
SVG = '"><svg onload=alert("inj-svg")>'
JS_URL = 'javascript:alert("inj-js")'
JINJA = "{{ 7*191919 }}"
#: What JINJA would show if it were ever rendered as a template (a number no page shows by chance).
RENDERED = str(7 * 191919)
CORPUS = f"{SCRIPT} {IMG} {SVG} <a href='{JS_URL}'>link</a> {JS_URL} {JINJA} {{% if 1 %}}yes{{% endif %}}"
RUN_ID = "inj_run_1"
RUN_TIMEOUT = 60.0

DAG_FILE = f"""
from datetime import datetime

from dagflow import DAG, Param
from dagflow.operators import PythonOperator

CORPUS = {CORPUS!r}


def shout(**context):
    print("log:", CORPUS)
    print("conf:", context["dag_run"].conf)
    return {{"said": CORPUS}}


with DAG("inj_dag", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["injection"],
         description=CORPUS, doc_md=CORPUS, params={{"greeting": Param(CORPUS, type="string")}}):
    PythonOperator(task_id="shout", python_callable=shout, description=CORPUS, doc_md=CORPUS)
"""
BROKEN_FILE = f"from dagflow import DAG  # noqa: F401\n\nraise RuntimeError({CORPUS!r})\n"

#: Finds what would run: scripts not served by us, on* handlers, javascript: URLs, frames.
INERT_CHECK = """() => {
  const bad = [];
  for (const s of document.scripts) {
    if (!s.src || !s.src.startsWith(location.origin + "/static/")) bad.push("script " + (s.src || s.textContent.slice(0, 80)));
  }
  for (const el of document.querySelectorAll("*")) {
    for (const a of el.attributes) {
      if (a.name.toLowerCase().startsWith("on")) bad.push(el.tagName + " [" + a.name + "]");
      if (["href", "src", "action", "formaction", "xlink:href"].includes(a.name.toLowerCase())
          && a.value.trim().toLowerCase().startsWith("javascript:")) bad.push(el.tagName + " " + a.name);
    }
  }
  for (const el of document.querySelectorAll("iframe, object, embed, img[src=x]")) bad.push("element " + el.tagName);
  return bad;
}"""


@pytest.fixture(scope="module")
def corpus_run(live_server: LiveServer) -> str:
    """``inj_dag`` stored and run once with the corpus in its conf; notes, a variable, a pool, a connection too."""
    live = live_server
    folder = live.settings.core.dags_folder
    (folder / "inj_dag.py").write_text(textwrap.dedent(DAG_FILE))
    (folder / "inj_broken.py").write_text(BROKEN_FILE)
    sync_folders(live.db, dag_folders(live.settings), paused_at_creation=True)
    set_paused(live.settings, live.db, "inj_dag", paused=False)
    trigger_dag(live.settings, live.db, "inj_dag", run_id=RUN_ID, conf={"greeting": CORPUS})
    live.wait_for(
        lambda: task_instance_state(live.db, dag_id="inj_dag", task_id="shout", run_id=RUN_ID) == "success",
        timeout=RUN_TIMEOUT,
        what="inj_dag.shout to succeed",
    )
    set_paused(live.settings, live.db, "inj_dag", paused=True)
    set_run_note(live.db, "inj_dag", RUN_ID, CORPUS)
    set_task_instance_note(live.db, "inj_dag", RUN_ID, "shout", CORPUS)
    variables.set_variable(live.db, "inj_variable", CORPUS)
    pools.set_pool(live.db, "inj_pool", 1, description=CORPUS)
    conn = connections.connection_from_fields("inj_conn", {"conn_type": "http", "description": CORPUS})
    connections.add_connection(live.db, conn)
    return RUN_ID


#: Pages, whether the corpus shows there as text (False: the page only has to stay inert), and the name of
#: the page's screenshot in docs/ui/ (written with DAGFLOW_UI_SCREENSHOTS=1 only).
PAGES = (
    ("/", False, None),
    ("/dags/inj_dag", True, None),
    (f"/dags/inj_dag/runs/{RUN_ID}", True, None),
    (f"/dags/inj_dag/runs/{RUN_ID}/tasks/shout", True, "injection_task_instance"),
    ("/dags/inj_dag/trigger", False, None),  # the default is an input value: checked below
    ("/dags/inj_dag/code", True, None),
    ("/dags/inj_dag/graph", False, None),
    ("/dags/inj_dag/durations", False, "durations"),
    ("/dags/inj_dag/backfill", True, "backfill"),
    ("/runs?dag_id=inj_dag", False, "runs"),
    ("/task-instances?dag_id=inj_dag", False, None),
    ("/events?dag_id=inj_dag", True, "events"),
    ("/variables", True, "variables"),
    ("/variables?edit=inj_variable", True, None),
    ("/import-errors", True, "import_errors"),
    ("/sla-misses", False, "sla_misses"),
    ("/pools", True, "pools"),
    ("/connections", True, "connections"),
    ("/users", False, "users"),
)


def test_the_corpus_never_runs_and_shows_as_text(
    corpus_run: str, page_as: Callable[[str], Any], screenshot: Callable[..., None]
) -> None:
    page = page_as("admin")  # the fixture fails the test on any dialog, page error or CSP violation
    for path, shown, shot in PAGES:
        response = page.goto(path, wait_until="domcontentloaded")
        assert response is not None and response.status == 200, (path, response and response.status)
        if path.endswith("/tasks/shout"):  # its log and duration chart arrive as htmx fragments
            expect(page.locator("#log")).to_contain_text(f"log: {SCRIPT}")
            expect(page.locator(".durations-fragment figure")).to_have_count(1)
            expect(page.locator("table.xcoms")).to_contain_text(JINJA)
        assert page.evaluate(INERT_CHECK) == [], path
        text = page.locator("body").text_content() or ""
        assert RENDERED not in text, path  # never rendered as a template
        if shown:
            assert JINJA in text and "<script>alert(" in text, f"{path}: the corpus does not show as literal text"
        if shot:
            screenshot(page, shot)
    page.goto("/dags/inj_dag/trigger", wait_until="domcontentloaded")
    field = page.locator("label[data-param=greeting] input, label[data-param=greeting] textarea").first
    assert field.input_value() == CORPUS  # an attribute value, escaped, not markup
