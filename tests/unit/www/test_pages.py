"""The core pages read the services and render what a person needs; actions go through a confirm step."""

from __future__ import annotations

import re

import pendulum
import pytest

from dagflow.services.assets import create_asset_event
from dagflow.services.dag_runs import get_run
from dagflow.services.task_instances import get_task_instance, task_instance_tries
from tests.unit.www.conftest import Ui, ran_ui_dag, run_ui_dag


@pytest.fixture(scope="module")
def ui(ui: Ui) -> Ui:
    """The module's app with one finished run of ``ui_dag`` (``ui.run_id``)."""
    return ran_ui_dag(ui)


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.get_data(as_text=True))


def test_the_dag_list_shows_owner_tags_schedule_latest_runs_and_health(ui: Ui) -> None:
    html = _text(ui.get("/"))

    row = html[html.index('data-dag-id="ui_dag"') :][:4000]
    assert "team-ui" in row and "@daily" in row and 'class="tag"' in row
    assert f'title="{ui.run_id} failed"' in row.replace("&#43;", "+")
    assert 'data-component="scheduler"' in html and "never seen" in html
    assert 'data-pool="default_pool"' in html
    assert 'hx-get="/health-strip"' in html


def test_the_dag_list_filters_by_tag_text_and_paused(ui: Ui) -> None:
    by_tag = _text(ui.get("/?tags=other"))
    by_text = _text(ui.get("/?search=other"))
    paused = _text(ui.get("/?status=paused"))
    active = _text(ui.get("/?status=active"))

    assert 'data-dag-id="ui_other"' in by_tag and 'data-dag-id="ui_dag"' not in by_tag
    assert 'data-dag-id="ui_other"' in by_text and 'data-dag-id="ui_dag"' not in by_text
    assert 'data-dag-id="ui_other"' in paused and 'data-dag-id="ui_other"' not in active


def test_an_import_error_shows_a_banner_linking_the_list(ui: Ui) -> None:
    html = _text(ui.get("/"))

    assert '<a href="/import-errors">1 DAG import error</a>' in html


def test_pause_and_unpause_ask_first_then_go_back_where_the_button_was(ui: Ui) -> None:
    ask = ui.post("/dags/ui_other/pause", "op", {"is_paused": "false", "next": "/?search=other"})
    assert ask.status_code == 200 and "Unpause ui_other?" in _text(ask) and 'name="confirmed" value="1"' in _text(ask)
    assert 'data-dag-id="ui_other"' in _text(ui.get("/?status=paused"))  # asking changed nothing
    assert 'data-ask="Unpause ui_other?"' in _text(ui.get("/?search=other", "op"))  # dagflow.js asks in the page

    confirmed = {"is_paused": "false", "next": "/?search=other", "confirmed": "1"}
    response = ui.post("/dags/ui_other/pause", "op", confirmed)

    assert response.status_code == 303 and response.headers["Location"] == "/?search=other"
    assert 'data-dag-id="ui_other"' in _text(ui.get("/?status=active"))
    evil = {"is_paused": "true", "next": "//evil.example", "confirmed": "1"}
    assert ui.post("/dags/ui_other/pause", "op", evil).headers["Location"] == "/dags/ui_other"
    assert ui.post("/dags/ui_other/pause", "op", {"is_paused": "maybe"}).status_code == 422
    assert ui.post("/dags/ui_other/pause", "viewer", {"is_paused": "false"}).status_code == 403


def test_the_tag_filter_is_a_multi_select_of_existing_tags(ui: Ui) -> None:
    html = _text(ui.get("/?tags=ui&tags=daily"))
    either = _text(ui.get("/?tags=ui&tags=other"))

    select = html[html.index('<select name="tags" multiple') :].split("</select>")[0]
    assert '<option value="ui" selected>' in select and '<option value="daily" selected>' in select
    assert '<option value="other">' in select and '<option value="flow">' in select
    assert 'data-dag-id="ui_dag"' in html and 'data-dag-id="ui_other"' not in html
    assert 'data-dag-id="ui_dag"' in either and 'data-dag-id="ui_other"' in either  # any chosen tag, as Airflow


def test_the_grid_has_groups_mapped_counts_states_and_a_legend(ui: Ui) -> None:
    html = _text(ui.get("/dags/ui_dag"))

    assert 'data-toggle-group="grp"' in html
    assert '<tr data-node="grp.c" data-cells="task" data-parent-group="grp" class=" hidden">' in html
    assert re.search(
        r'<tr data-node="grp.c" data-cells="task" data-parent-group="grp".*?<td class="c state-failed">', html, re.S
    )
    run = f"/dags/ui_dag/runs/{ui.run_id}"
    assert f'<td class="c state-success"><a href="{run}/tasks/double" title="3 success">3</a></td>' in html  # mapped
    assert '<td class="c state-failed" title="1 failed 1 success"></td>' in html  # the group: its members summed
    assert 'class="legend"' in html and "upstream_failed" in html
    assert "hx-trigger" not in html[html.index('id="grid"') :][:300]  # nothing active: no polling


def test_grid_cells_are_links_to_their_task_instance_and_rows_show_their_flow_settings(ui: Ui) -> None:
    html = _text(ui.get("/dags/ui_dag"))
    run = f"/dags/ui_dag/runs/{ui.run_id}"
    flow_run = run_ui_dag(ui, "ui_flow", pendulum.datetime(2024, 3, 2))
    flow = _text(ui.get("/dags/ui_flow"))

    assert f'<td class="c state-failed"><a href="{run}/tasks/grp.c"></a></td>' in html  # works without JavaScript
    assert f'<td class="c state-success"><a href="{run}/tasks/a"></a></td>' in html
    assert f'href="{run}/tasks/grp"' not in html  # a group's cell is no link
    assert ui.get(f"{run}/tasks/grp.c").status_code == 200
    assert re.search(
        r'<th class="task indent-0" title="the first task">first <small class="mark">log_level DEBUG', flow
    )
    assert '<small class="mark">allow_failure</small>' in flow and '<small class="mark">disabled</small>' in flow
    assert '<small class="mark">sequential</small> <small class="mark">max 1 at once</small>' in flow
    assert '[mapped]</small> <small class="mark">max 2 per run</small>' in flow  # ForEach with a limit
    soft = _text(ui.get(f"/dags/ui_flow/runs/{flow_run}/tasks/flow.soft"))
    assert '<dd class="flow-marks"><small class="mark">allow_failure</small>' in soft
    assert "group flow: max 1 at once" in soft
    assert re.search(
        r'<td class="c state-failed soft-fail"><a href="[^"]+/tasks/flow.soft" title="failure allowed', flow
    )
    assert re.search(r'<td class="c state-skipped"><a href="[^"]+/tasks/flow.off"', flow)  # disabled=True
    assert 'class="sq state-success soft-fail"' in flow and "(with allowed failures)" in flow
    assert "data-soft-failures" in _text(ui.get(f"/dags/ui_flow/runs/{flow_run}"))


def test_a_switch_shows_in_the_grid_and_on_the_task_page_and_a_viewer_cannot_set_it(ui: Ui) -> None:
    page = f"/dags/ui_dag/runs/{ui.run_id}/tasks/say"
    assert ui.post(f"{page}/disable", "viewer", {"scope": "all"}).status_code == 403
    assert ui.post(f"{page}/disable", "op", {"scope": "sometimes"}).status_code == 422

    one = ui.post(f"{page}/disable", "op", {"scope": "run", "reason": "flaky <api>"})
    every = ui.post(f"{page}/disable", "op", {"scope": "all", "reason": "vendor down"})
    grid = _text(ui.get("/dags/ui_dag"))
    ti_page = _text(ui.get(page))
    events = _text(ui.get("/events"))

    assert one.status_code == every.status_code == 303 and one.headers["Location"] == page
    assert re.search(
        r'<td class="c state-[a-z_]+ switched"><a href="[^"]+/tasks/say" title="disabled in run [^"]+ by op at [^"]+: flaky &lt;api&gt;">',
        grid,
    )
    assert '<small class="mark switched" title="disabled for all future runs by op at' in grid
    assert 'data-switch="run"' in ti_page and 'data-switch="all"' in ti_page and "vendor down" in ti_page
    assert "Enable in this run" in ti_page and "Enable for all future runs" in ti_page
    assert "disable_task" in events
    assert ui.post(f"{page}/enable", "op", {"scope": "all"}).status_code == 303
    assert ui.post(f"{page}/enable", "op", {"scope": "run"}).status_code == 303
    assert ui.post(f"{page}/enable", "op", {"scope": "run"}).status_code == 404
    assert "switched" not in _text(ui.get("/dags/ui_dag/grid"))


def test_the_asset_pages_list_producers_consumers_and_events_with_their_runs(ui: Ui) -> None:
    before = _text(ui.get("/assets", "viewer"))
    producer_run = run_ui_dag(ui, "ui_flow", pendulum.datetime(2024, 3, 3))
    create_asset_event(ui.db, "s3://bucket/orders.parquet", extra={"note": "<b>by hand</b>"})
    listing = _text(ui.get("/assets", "viewer"))
    by_dag = _text(ui.get("/assets?dag_id=ui_other", "viewer"))
    asset_id = int(re.search(r'href="/assets/(\d+)"', listing).group(1))  # type: ignore[union-attr]
    detail = _text(ui.get(f"/assets/{asset_id}", "viewer"))

    assert 'data-asset="s3://bucket/orders.parquet"' in before  # stored with the DAG, before any event
    row = listing[listing.index('data-asset="s3://bucket/orders.parquet"') :].split("</tr>")[0]
    assert ">ui_flow.first</a>" in row and ">ui_consumer</a>" in row and "<time" in row
    assert "No assets match" in by_dag
    assert f'href="/dags/ui_flow/runs/{producer_run}"'.replace("+", "&#43;") in detail.replace("+", "&#43;")
    assert "&#34;note&#34;: &#34;&lt;b&gt;by hand&lt;/b&gt;&#34;" in detail and "\\u003c" not in detail  # literal JSON
    assert "by hand or the API" in detail and "ui_consumer" in detail
    assert 'href="/assets?dag_id=ui_flow"' in _text(ui.get("/dags/ui_flow"))  # linked from the DAG's pages
    assert ui.get("/assets/999999", "viewer").status_code == 404
    assert ui.get("/assets", "anon").status_code == 302


def test_the_grid_fragment_is_the_grid_alone(ui: Ui) -> None:
    html = _text(ui.get("/dags/ui_dag/grid"))

    assert html.lstrip().startswith('<div id="grid"') and "<html" not in html


def test_an_unknown_dag_is_a_404_page(ui: Ui) -> None:
    response = ui.get("/dags/no_such_dag")

    assert response.status_code == 404 and "no_such_dag" in _text(response) and "text/html" in response.content_type


def test_the_graph_collapses_groups_and_expands_them_on_request(ui: Ui) -> None:
    collapsed = _text(ui.get("/dags/ui_dag/graph"))
    expanded = _text(ui.get("/dags/ui_dag/graph?expand=grp"))

    assert 'data-node="grp" data-state="failed"' in collapsed and 'data-node="grp.c"' not in collapsed
    assert "grp (2)" in collapsed
    assert 'data-node="grp.c" data-state="failed"' in expanded and 'data-node="grp.b" data-state="success"' in expanded
    assert collapsed.count('class="edge"') == 3  # a -> grp, a -> double, a -> say: none inside a collapsed group
    assert expanded.count('class="edge"') == 4  # a -> grp.b, grp.b -> grp.c, a -> double, a -> say


def test_the_code_page_highlights_the_stored_source(ui: Ui) -> None:
    html = _text(ui.get("/dags/ui_dag/code"))

    assert 'class="highlight"' in html and "boom" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_the_trigger_form_follows_the_params(ui: Ui) -> None:
    html = _text(ui.get("/dags/ui_dag/trigger"))

    assert '<input type="number" name="param:n" value="1" min="0">' in html
    assert '<option value="fast" selected>fast</option>' in html and '<option value="slow">slow</option>' in html
    assert 'id="conf"' in html


def test_a_trigger_from_the_form_creates_a_run_with_that_conf(ui: Ui) -> None:
    form = {"param:n": "5", "param:mode": "slow", "conf": '{"extra": "<b>x</b>"}', "run_id": "ui_form_run"}
    response = ui.post("/dags/ui_dag/trigger", "op", form)

    assert response.status_code == 303 and response.headers["Location"] == "/dags/ui_dag"
    assert "is paused: the run starts once it is unpaused" in _text(ui.get("/dags/ui_dag", "op"))
    assert get_run(ui.db, "ui_dag", "ui_form_run").conf == {"n": 5, "mode": "slow", "extra": "<b>x</b>"}
    page = _text(ui.get("/dags/ui_dag/runs/ui_form_run"))
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "data-use-conf" in _text(ui.get("/dags/ui_dag/trigger"))  # recent confs to start from


def test_a_bad_trigger_stays_on_the_form_with_one_clear_error(ui: Ui) -> None:
    below_minimum = ui.post("/dags/ui_dag/trigger", "op", {"param:n": "-1", "param:mode": "fast"})
    not_json = ui.post("/dags/ui_dag/trigger", "op", {"param:n": "1", "conf": "{nope"})
    bad_run_id = ui.post("/dags/ui_dag/trigger", "op", {"param:n": "1", "run_id": "bad id/with spaces"})

    assert below_minimum.status_code == 422 and "less than the minimum of 0" in _text(below_minimum)
    assert not_json.status_code == 422 and "not valid JSON" in _text(not_json)
    assert bad_run_id.status_code == 422
    assert '<input type="number" name="param:n" value="-1" min="0">' in _text(below_minimum)  # the input is kept


def test_the_run_page_shows_conf_dates_tries_gantt_and_actions_by_role(ui: Ui) -> None:
    op = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}", "op"))
    viewer = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}", "viewer"))

    assert 'data-run-state="failed"' in op
    order = re.findall(r'<tr data-task="([^"]+)"', op)
    assert order.index("a") < order.index("grp.b") < order.index("grp.c")  # topological order
    assert op.count('<g class="bar"') == 7  # a, grp.b, grp.c, say and the three mapped double
    assert 'data-action="ui.retry_failed_tasks"' in op and 'data-action="ui.mark_run_state"' in op
    assert "data-action=" not in viewer and 'name="note"' not in viewer


def test_the_task_page_lists_tries_log_xcoms_and_reasons(ui: Ui) -> None:
    failed = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}/tasks/grp.c"))
    mapped = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}/tasks/double"))
    one = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}/tasks/double?map_index=2"))

    assert 'data-ti-state="failed"' in failed and 'data-try="1"' in failed
    assert "RuntimeError: boom &lt;script&gt;" in failed  # the end reason, escaped
    assert 'id="why"' not in failed  # finished: nothing to explain
    assert mapped.count("data-map-index=") == 3
    assert "&#34;doubled&#34;: 6" in one and "hunter2" not in one  # the XCom, with the password masked


def test_rendered_templates_show_with_secrets_masked(ui: Ui) -> None:
    html = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}/tasks/say"))

    field = html[html.index('data-field="bash_command"') :][:300]
    assert "echo mode=fast key=***" in field and "s3cr3t-value-42" not in html
    assert "&lt;i&gt;" in field


def test_the_log_panel_filters_by_level_and_text_and_downloads(ui: Ui) -> None:
    base = f"/dags/ui_dag/runs/{ui.run_id}/tasks/grp.c/log"
    everything = _text(ui.get(base))
    errors = _text(ui.get(base + "?level=ERROR"))
    text = _text(ui.get(base + "?q=about+to"))
    download = ui.get(base + "/download?try=1")

    assert "about to fail" in everything and "RuntimeError" in everything
    assert re.search(r'Try 1: <span id="log-matching">(\d+)</span> of <span id="log-total">\1</span> lines', everything)
    assert "about to fail" not in errors and "RuntimeError" in errors
    assert "about to fail" in text and "RuntimeError" not in text
    assert "&lt;script&gt;" in everything and "<script>alert" not in everything
    assert download.headers["Content-Disposition"].startswith("attachment;") and b"RuntimeError" in download.data
    assert ui.get(base + "?try=7").status_code == 404


def test_the_log_tail_reads_only_the_bytes_after_its_offset(ui: Ui) -> None:
    base = f"/dags/ui_dag/runs/{ui.run_id}/tasks/grp.c/log"
    whole = ui.get(base + "/download?try=1").data
    first_line = whole[: whole.index(b"\n") + 1]

    tail = _text(ui.get(f"{base}/tail?try=1&offset={len(first_line)}&line=1&at=INFO"))
    at_end = _text(ui.get(f"{base}/tail?try=1&offset={len(whole)}&line=9"))

    assert 'data-line="1"' not in tail and 'data-line="2"' in tail and "RuntimeError" in tail
    assert first_line.decode().strip() not in tail
    assert "hx-get" not in tail and 'data-ended="true"' in tail  # the try has ended: no next poll
    assert 'id="log-live" hx-swap-oob="true"' in tail
    shown = tail.count('class="log-line')
    assert f'<span id="log-total" hx-swap-oob="true">{shown + 1}</span>' in tail  # the panel's counter goes on
    assert "log-line" not in at_end
    assert ui.get(f"{base}/tail?try=1&offset=-5").status_code == 422
    assert ui.get(f"{base}/tail?try=1", "viewer").status_code == 200


def test_retry_failed_previews_then_reruns_keeping_every_try(ui: Ui) -> None:
    url = f"/dags/ui_dag/runs/{ui.run_id}/retry-failed"
    preview = _text(ui.post(url, "op"))

    assert 'data-task="grp.c"' in preview and 'data-task="a"' not in preview
    assert get_task_instance(ui.db, "ui_dag", ui.run_id, "grp.c").state == "failed"  # the preview changed nothing
    response = ui.post(url, "op", {"confirmed": "1"})
    assert response.status_code == 303
    assert get_task_instance(ui.db, "ui_dag", ui.run_id, "grp.c").state is None
    assert get_run(ui.db, "ui_dag", ui.run_id).state == "queued"
    assert [t.try_number for t in task_instance_tries(ui.db, "ui_dag", ui.run_id, "grp.c")] == [1]
    why = _text(ui.get(f"/dags/ui_dag/runs/{ui.run_id}/tasks/grp.c"))  # "why is it not running?"
    assert 'data-dep="Dag Not Paused"' in why
    assert 'data-dep="Trigger Rule"' not in why  # grp.b succeeded: the trigger rule holds
    assert ui.post(url, "viewer", {"confirmed": "1"}).status_code == 403


def test_mark_a_task_after_the_confirm_step(ui: Ui) -> None:
    url = f"/dags/ui_dag/runs/{ui.run_id}/tasks/grp.c/mark"
    confirm = ui.post(url, "op", {"state": "skipped"})

    assert confirm.status_code == 200 and 'name="confirmed" value="1"' in _text(confirm)
    assert ui.post(url, "op", {"state": "skipped", "confirmed": "1"}).status_code == 303
    assert get_task_instance(ui.db, "ui_dag", ui.run_id, "grp.c").state == "skipped"
    assert ui.post(url, "op", {"state": "running", "confirmed": "1"}).status_code == 422


def test_approving_a_task_that_is_not_waiting_is_a_conflict_page(ui: Ui) -> None:
    response = ui.post(f"/dags/ui_dag/runs/{ui.run_id}/tasks/a/approve", "op", {"decision": "approve"})

    assert response.status_code == 409 and "not an ApprovalOperator" in _text(response)
    assert (
        ui.post(f"/dags/ui_dag/runs/{ui.run_id}/tasks/a/approve", "viewer", {"decision": "approve"}).status_code == 403
    )
