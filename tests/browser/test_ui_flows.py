"""The web UI in a real browser: log in, trigger from the Params form, watch the grid go green, read a failed
task's log, clear it and watch it rerun, approve a pause task; a viewer sees no action buttons and is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import expect

from dagflow.services.dag_runs import set_paused, trigger_dag
from dagflow.services.task_instances import task_instance_state
from tests.browser.conftest import PASSWORD, LiveServer

pytestmark = pytest.mark.slow

EXAMPLE = "example_switch_params"
RUN_TIMEOUT = 60_000  # ms: a run of a few tasks on the LocalExecutor, on a busy CI machine


def _started(live: LiveServer, dag_id: str, run_id: str) -> str:
    set_paused(live.settings, live.db, dag_id, paused=False)
    return trigger_dag(live.settings, live.db, dag_id, run_id=run_id).run_id


def test_login_form_opens_the_dag_list(browser: Any, live_server: LiveServer, screenshot: Callable[..., None]) -> None:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto("/dags/ui_flaky")
    expect(page).to_have_url(re.compile(r"/login\?next=/dags/ui_flaky"))
    screenshot(page, "login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".flash.error")).to_contain_text("invalid username or password")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/dags/ui_flaky")
    expect(page.locator("h1")).to_contain_text("ui_flaky")
    context.close()


def test_unpause_and_trigger_from_the_params_form_then_the_grid_turns_green(
    page_as: Callable[[str], Any], live_server: LiveServer, screenshot: Callable[..., None]
) -> None:
    page = page_as("op")
    page.goto("/")
    screenshot(page, "dags")
    page.goto(f"/?search={EXAMPLE}")
    row = page.locator(f"tr[data-dag-id={EXAMPLE}]")
    expect(row.locator("button.toggle")).to_have_text("paused")
    row.locator("button.toggle").click()
    expect(page.locator("dialog.ask")).to_contain_text(f"Unpause {EXAMPLE}?")  # asks in the page first
    screenshot(page, "pause_confirm")
    page.click("dialog.ask button[data-ask-confirm]")
    expect(page.locator(".flash.success")).to_contain_text(f"DAG {EXAMPLE} unpaused")
    expect(page.locator(f"tr[data-dag-id={EXAMPLE}] button.toggle")).to_have_text("active")
    page.locator(f"tr[data-dag-id={EXAMPLE}] a[data-action='ui.trigger']").click()
    expect(page.locator("label[data-param=target] select")).to_have_value("staging")
    page.select_option("label[data-param=target] select", "prod")
    page.fill("label[data-param=version] input", "2.0.0")
    screenshot(page, "trigger")
    page.click("button[type=submit][data-action='ui.trigger']")
    expect(page.locator(".flash.success")).to_contain_text("Triggered")
    page.evaluate("window.__sameDocument = true")
    run_cell = page.locator("#grid .run-states a[data-run-id]").last
    expect(run_cell).to_have_attribute("data-state", "success", timeout=RUN_TIMEOUT)
    assert page.evaluate("window.__sameDocument") is True  # htmx swapped the grid; the page never reloaded
    expect(page.locator("#grid tr[data-node=deploy_prod] td.c").last).to_have_class(re.compile("state-success"))
    expect(page.locator("#grid tr[data-node=deploy_staging] td.c").last).to_have_class(re.compile("state-skipped"))
    screenshot(page, "grid")
    page.locator("#grid tr[data-node=deploy_prod] td.c a").last.click()  # a cell is a link to its task instance
    expect(page.locator("[data-ti-state]")).to_have_attribute("data-ti-state", "success")
    page.goto(f"/dags/{EXAMPLE}/graph")
    expect(page.locator("g.node[data-node=deploy_prod]")).to_have_attribute("data-state", "success")
    screenshot(page, "graph")
    page.goto(f"/dags/{EXAMPLE}/code")
    expect(page.locator(".highlight")).to_contain_text("SwitchOperator")
    screenshot(page, "code")


def test_a_failed_task_log_then_clear_and_watch_it_rerun(
    page_as: Callable[[str], Any], live_server: LiveServer, screenshot: Callable[..., None]
) -> None:
    run_id = _started(live_server, "ui_flaky", "browser_flaky_1")
    live_server.wait_for(
        lambda: task_instance_state(live_server.db, dag_id="ui_flaky", task_id="work.flaky", run_id=run_id) == "failed",
        timeout=RUN_TIMEOUT / 1000,
        what="work.flaky to fail",
    )
    page = page_as("op")
    page.goto(f"/dags/ui_flaky/runs/{run_id}")
    expect(page.locator("[data-run-state]")).to_have_attribute("data-run-state", "failed", timeout=RUN_TIMEOUT)
    screenshot(page, "dag_run")
    page.click("tr[data-task='work.flaky'] a")
    expect(page.locator("[data-ti-state]")).to_have_attribute("data-ti-state", "failed")
    expect(page.locator("#log .log-lines")).to_contain_text("flaky failed on purpose")
    page.select_option("select[name=level]", "ERROR")
    expect(page.locator("#log .log-line.level-INFO")).to_have_count(0)
    expect(page.locator("#log .log-lines")).to_contain_text("RuntimeError")
    screenshot(page, "task_instance")
    page.click("button[data-action='ui.clear_task']")
    expect(page.locator("table.preview tr[data-task='work.flaky']")).to_have_count(1)
    expect(page.locator("table.preview tr[data-task=done]")).to_have_count(1)  # downstream, checked by default
    screenshot(page, "clear_preview")
    page.click("button[data-confirm]")
    expect(page.locator(".flash.success")).to_contain_text("Cleared 2 task instance(s)")
    page.goto(f"/dags/ui_flaky/runs/{run_id}")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("[data-run-state]")).to_have_attribute("data-run-state", "success", timeout=RUN_TIMEOUT)
    assert page.evaluate("window.__sameDocument") is True
    page.goto(f"/dags/ui_flaky/runs/{run_id}/tasks/work.flaky")
    expect(page.locator("table.tries tr[data-try]")).to_have_count(2)  # both tries kept
    expect(page.locator("#log .log-lines")).to_contain_text("flaky succeeded")


def test_approve_a_pause_task(
    page_as: Callable[[str], Any], live_server: LiveServer, screenshot: Callable[..., None]
) -> None:
    run_id = _started(live_server, "ui_approval", "browser_approval_1")
    live_server.wait_for(
        lambda: (
            task_instance_state(live_server.db, dag_id="ui_approval", task_id="sign_off", run_id=run_id)
            in ("up_for_reschedule", "running")
        ),
        timeout=RUN_TIMEOUT / 1000,
        what="sign_off to wait for approval",
    )
    page = page_as("op")
    page.goto(f"/dags/ui_approval/runs/{run_id}/tasks/sign_off")
    expect(page.locator("form.approval")).to_be_visible()
    page.fill("form.approval textarea[name=comment]", "looks good <b>to me</b>")
    screenshot(page, "approval")
    page.click("form.approval button[value=approve]")
    expect(page.locator(".flash.success")).to_contain_text("sign_off approved")
    page.goto(f"/dags/ui_approval/runs/{run_id}")
    expect(page.locator("[data-run-state]")).to_have_attribute("data-run-state", "success", timeout=RUN_TIMEOUT)


def test_a_viewer_sees_no_action_buttons_and_a_forged_post_is_refused(
    page_as: Callable[[str], Any], live_server: LiveServer
) -> None:
    page = page_as("viewer")
    for path in (
        "/",
        f"/dags/{EXAMPLE}",
        "/dags/ui_flaky/runs/browser_flaky_1",
        "/dags/ui_flaky/runs/browser_flaky_1/tasks/work.flaky",
    ):
        page.goto(path)
        expect(page.locator("h1")).to_be_visible()
        expect(page.locator("[data-action]")).to_have_count(0)
        expect(page.locator("form[method=post]:not([action='/logout'])")).to_have_count(0)
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    forged = page.request.post(f"/dags/{EXAMPLE}/pause", form={"is_paused": "true", "csrf_token": token})
    assert forged.status == 403
    no_token = page.request.post(f"/dags/{EXAMPLE}/trigger", form={"conf": "{}"})
    assert no_token.status in (400, 403)
    trigger_form = page.request.get(f"/dags/{EXAMPLE}/trigger")
    assert trigger_form.status == 403
