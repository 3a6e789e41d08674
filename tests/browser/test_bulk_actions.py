"""One bulk action in a real browser: filter the failed task instances, tick the page, preview, confirm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from dagflow.services.task_instances import task_instance_state
from tests.browser.conftest import LiveServer
from tests.unit.services.seed import add_run, store_dags

pytestmark = pytest.mark.slow


def test_clear_what_failed_from_the_list(
    live_server: LiveServer, page_as: Callable[[str], Any], screenshot: Callable[..., None]
) -> None:
    db = live_server.db
    store_dags(db)  # paused DAGs "etl" and "report" (tag "etl" on the first)
    failed = {
        "etl": add_run(db, "etl", 11, "failed", {"extract": "failed", "load": "upstream_failed"}),
        "report": add_run(db, "report", 11, "failed", {"render": "failed"}),
    }
    add_run(db, "etl", 12, "success", {"extract": "success", "load": "success"})

    page = page_as("op")
    page.goto("/task-instances?state=failed&state=upstream_failed&start=2024-03-11&end=2024-03-11T23:59")
    rows = page.locator("table.list tbody tr")
    expect(rows).to_have_count(3)
    screenshot(page, "task_instances")
    page.check("input[data-select-all]")
    expect(page.locator("input[name=key]:checked")).to_have_count(3)  # our script ticked every row
    page.uncheck(f"input[name=key][value='etl|{failed['etl']}|load|-1']")
    page.select_option("select[name=action]", "clear")
    page.click("button:has-text('Preview')")
    expect(page.locator("p.lead")).to_contain_text("would change 2 task instances")
    expect(page.locator("table.preview tbody tr")).to_have_count(2)
    screenshot(page, "bulk_preview")
    assert task_instance_state(db, dag_id="report", task_id="render", run_id=failed["report"]) == "failed"
    page.click("button[data-confirm]")
    expect(page.locator(".flash.success")).to_contain_text("Clear: 2 task instances changed.")
    expect(rows).to_have_count(1)  # back on the filtered list: only the unticked one is left
    assert task_instance_state(db, dag_id="etl", task_id="extract", run_id=failed["etl"]) != "failed"
    for dag_id in ("etl", "report"):  # one event per run cleared (other browser tests clear other DAGs)
        page.goto(f"/events?event=clear&owner=op&dag_id={dag_id}")
        expect(page.locator("table.events tbody tr")).to_have_count(1)
