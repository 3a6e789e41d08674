"""Issue 20 in a real browser: switch a task off from the grid and watch the scheduler skip it in the next run;
a grid cell is a link that opens the task instance (also in a new tab); a live log grows by tailing only its new
bytes; "retry failed" re-runs only what failed and keeps the first try's log; the asset pages after a producer run."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from dagflow.services.dag_runs import set_paused, trigger_dag
from dagflow.services.task_instances import task_instance_state
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 60_000  # ms: a run of a few tasks on the LocalExecutor, on a busy CI machine


def _run(live: LiveServer, dag_id: str, run_id: str, task_id: str, state: str) -> str:
    """Trigger ``dag_id`` (unpaused) and wait until ``task_id`` is in ``state``."""
    set_paused(live.settings, live.db, dag_id, paused=False)
    trigger_dag(live.settings, live.db, dag_id, run_id=run_id)
    live.wait_for(
        lambda: task_instance_state(live.db, dag_id=dag_id, task_id=task_id, run_id=run_id) == state,
        timeout=RUN_TIMEOUT / 1000,
        what=f"{dag_id}.{task_id} to be {state}",
    )
    return run_id


def test_a_switch_set_from_the_grid_makes_the_scheduler_skip_the_task_in_the_next_run(
    page_as: Callable[[str], Any], live_server: LiveServer, screenshot: Callable[..., None]
) -> None:
    first = _run(live_server, "ui_switch", "switch_1", "archive", "success")
    page = page_as("op")
    page.goto("/dags/ui_switch")
    expect(page.locator("#grid tr[data-node=notify] th.task")).to_have_attribute("title", "tells the team")
    page.locator("#grid tr[data-node=notify] td.c a").last.click()  # the cell opens the task instance
    expect(page).to_have_url(re.compile(f"/dags/ui_switch/runs/{first}/tasks/notify$"))
    page.fill("#switches input[name=reason]", "the team is on holiday")
    page.click("#switches button[value=all]")
    expect(page.locator(".flash.success")).to_contain_text("notify disabled for all future runs")
    expect(page.locator("#switches [data-switch=all]")).to_contain_text("by op")

    second = "switch_2"
    trigger_dag(live_server.settings, live_server.db, "ui_switch", run_id=second)
    live_server.wait_for(
        lambda: task_instance_state(live_server.db, dag_id="ui_switch", task_id="archive", run_id=second) == "success",
        timeout=RUN_TIMEOUT / 1000,
        what="the second run to end",
    )
    assert task_instance_state(live_server.db, dag_id="ui_switch", task_id="notify", run_id=second) == "skipped"
    page.goto("/dags/ui_switch")
    row = page.locator("#grid tr[data-node=notify]")
    expect(row.locator("small.mark.switched")).to_have_attribute("title", re.compile("for all future runs by op"))
    expect(row.locator("td.c").last).to_have_class(re.compile("state-skipped"))
    expect(page.locator("#grid tr[data-node=archive] td.c").last).to_have_class(re.compile("state-success"))
    screenshot(page, "grid_switch")
    page.locator("#grid tr[data-node=notify] td.c a").last.click()
    page.click("button[data-action='ui.enable_task']")
    expect(page.locator(".flash.success")).to_contain_text("notify enabled again for all future runs")


def test_a_grid_cell_is_a_link_that_opens_the_task_instance_in_a_new_tab(
    page_as: Callable[[str], Any], live_server: LiveServer
) -> None:
    run_id = _run(live_server, "ui_switch", "switch_tab", "archive", "success")
    page = page_as("viewer")
    page.goto("/dags/ui_switch")
    link = page.locator("#grid tr[data-node=extract] td.c a").last
    expect(link).to_have_attribute("href", f"/dags/ui_switch/runs/{run_id}/tasks/extract")
    with page.context.expect_page() as opened:
        link.click(modifiers=["Control"])  # a real link: ctrl-click opens a new tab
    tab = opened.value
    tab.wait_for_load_state()
    expect(tab.locator("[data-ti-state]")).to_have_attribute("data-ti-state", "success")
    tab.close()


def test_the_live_log_appends_new_lines_read_from_a_byte_offset(
    page_as: Callable[[str], Any], live_server: LiveServer, screenshot: Callable[..., None]
) -> None:
    run_id = _run(live_server, "ui_slow", "slow_1", "ticks", "running")
    page = page_as("viewer")
    tails: list[str] = []
    panels: list[str] = []
    page.on("request", lambda r: tails.append(r.url) if "/log/tail" in r.url else None)
    page.on("request", lambda r: panels.append(r.url) if re.search(r"/log\?", r.url) else None)
    page.goto(f"/dags/ui_slow/runs/{run_id}/tasks/ticks")
    expect(page.locator("#log .log-lines")).to_contain_text("tick 3", timeout=RUN_TIMEOUT)
    before = page.locator("#log .log-line").count()
    expect(page.locator("#log .log-lines")).to_contain_text("tick 25", timeout=RUN_TIMEOUT)
    screenshot(page, "log_live")
    assert page.locator("#log .log-line").count() > before
    expect(page.locator("#log-total")).not_to_have_text(str(before))  # the counter follows the new lines
    expect(page.locator("#log .log-lines")).to_contain_text("tick 40", timeout=RUN_TIMEOUT)
    expect(page.locator("#log-live .state")).to_have_count(0, timeout=RUN_TIMEOUT)  # the try ended: no more polls
    assert len(panels) == 1  # the panel was read once; after that only the new bytes
    offsets = [int(parse_qs(urlsplit(url).query)["offset"][0]) for url in tails]
    assert offsets and offsets == sorted(offsets) and offsets[-1] > 0
    numbers = [int(n) for n in page.locator("#log .log-line").evaluate_all("els => els.map(e => e.dataset.line)")]
    assert numbers == list(range(1, len(numbers) + 1))  # nothing repeated, nothing lost
    assert page.locator("#log .log-lines").inner_text().count("tick 7\n") == 1


def test_retry_failed_reruns_only_the_failed_and_keeps_the_first_try_log(
    page_as: Callable[[str], Any], live_server: LiveServer
) -> None:
    run_id = _run(live_server, "ui_retry", "retry_1", "after", "upstream_failed")
    live_server.wait_for(
        lambda: task_instance_state(live_server.db, dag_id="ui_retry", task_id="side", run_id=run_id) == "success",
        what="side to succeed",
    )
    page = page_as("op")
    page.goto(f"/dags/ui_retry/runs/{run_id}")
    page.click("button[data-action='ui.retry_failed_tasks']")
    expect(page.locator("table.preview tr[data-task]")).to_have_count(2)
    expect(page.locator("table.preview tr[data-task=fails_once]")).to_have_count(1)
    expect(page.locator("table.preview tr[data-task=after]")).to_have_count(1)
    page.click("button[data-confirm]")
    expect(page.locator(".flash.success")).to_contain_text("Retrying 2 task instance(s)")
    expect(page.locator("[data-run-state]")).to_have_attribute("data-run-state", "success", timeout=RUN_TIMEOUT)
    for task_id, tries in (("first", "1"), ("side", "1"), ("fails_once", "2"), ("after", "1")):
        expect(page.locator(f"tr[data-task={task_id}] td").nth(3)).to_have_text(tries)
    page.goto(f"/dags/ui_retry/runs/{run_id}/tasks/fails_once?try=1")
    expect(page.locator("#log .log-lines")).to_contain_text("fails_once failed on purpose")
    page.goto(f"/dags/ui_retry/runs/{run_id}/tasks/fails_once?try=2")
    expect(page.locator("#log .log-lines")).to_contain_text("fails_once succeeded")


def test_the_asset_pages_after_a_producer_run(
    page_as: Callable[[str], Any], live_server: LiveServer, screenshot: Callable[..., None]
) -> None:
    run_id = _run(live_server, "ui_producer", "produce_1", "write_orders", "success")
    page = page_as("viewer")
    page.goto("/dags/ui_producer")
    page.click(".tabs a:text('Assets')")
    row = page.locator("tr[data-asset='file:///tmp/dagflow-browser/orders.csv']")
    expect(row).to_contain_text("ui_producer.write_orders")
    expect(row).to_contain_text("ui_asset_consumer")
    expect(row.locator("time")).to_have_count(1)  # the last event
    screenshot(page, "assets")
    row.locator("a code").click()
    event = page.locator("table.asset-events tr[data-event]").first
    expect(event).to_contain_text(f"ui_producer / {run_id}")
    screenshot(page, "asset")
    event.locator(f"a:text('ui_producer / {run_id}')").click()
    expect(page.locator("[data-run-state]")).to_be_visible()
    expect(page).to_have_url(re.compile(f"/dags/ui_producer/runs/{run_id}$"))
