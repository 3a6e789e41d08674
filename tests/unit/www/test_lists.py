"""``/runs`` and ``/task-instances``: filters, paging, and bulk actions with their dry-run preview."""

from __future__ import annotations

import re

import pytest

from dagflow.services.events import EventFilter, query_events
from dagflow.services.listing import Slice
from dagflow.services.task_instances import get_task_instance
from tests.unit.services.seed import add_run, store_dags
from tests.unit.www.conftest import Ui

LOCKED_DAG = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("locked", schedule="@daily", start_date=datetime(2024, 1, 1), access_control={"op": {"can_read"}}):
    EmptyOperator(task_id="t")
"""


@pytest.fixture(scope="module")
def runs(ui: Ui) -> dict[str, str]:
    """``etl`` failed on 2024-03-01 and succeeded on the 2nd; ``report`` failed on the 1st; ``locked`` (op may only
    read it, a viewer not even that) failed on 2024-02-01."""
    (ui.settings.core.dags_folder / "locked.py").write_text(LOCKED_DAG)
    store_dags(ui.db)
    return {
        "locked": add_run(ui.db, "locked", 1, "failed", {"t": "failed"}, month=2),
        "etl1": add_run(ui.db, "etl", 1, "failed", {"extract": "failed", "load": "upstream_failed"}),
        "etl2": add_run(ui.db, "etl", 2, "success", {"extract": "success", "load": "success"}),
        "rep1": add_run(ui.db, "report", 1, "failed", {"render": "failed"}),
    }


def _run_ids(html: str) -> list[str]:
    return [r for r in re.findall(r'name="key" value="[^|"]+\|([^"|]+)"', html) if "locked" not in r]


def test_access_control_hides_and_protects_a_dag(ui: Ui, runs: dict[str, str]) -> None:
    assert "/dags/locked" not in ui.get("/runs", "viewer").get_data(as_text=True)  # not for a viewer at all
    assert "/dags/locked" not in ui.get("/task-instances", "viewer").get_data(as_text=True)
    assert f"locked|{runs['locked']}" in ui.get("/runs", "op").get_data(as_text=True)  # op may read it
    key = f"locked|{runs['locked']}|t|-1"
    assert ui.post("/task-instances/bulk", "op", {"action": "clear", "key": key}).status_code == 403  # not change it
    assert ui.post("/runs/bulk-delete", "op", {"key": f"locked|{runs['locked']}"}).status_code == 403
    assert "Clear 1" in ui.post("/task-instances/bulk", "admin", {"action": "clear", "key": key}).get_data(as_text=True)


def test_runs_across_dags_filtered(ui: Ui, runs: dict[str, str]) -> None:
    page = ui.get("/runs", "op").get_data(as_text=True)
    assert _run_ids(page) == [runs["etl2"], runs["rep1"], runs["etl1"]]  # newest logical date (then id) first
    failed = ui.get("/runs?state=failed", "op").get_data(as_text=True)
    assert sorted(_run_ids(failed)) == sorted([runs["etl1"], runs["rep1"]])
    assert _run_ids(ui.get("/runs?state=failed&tag=reports", "op").get_data(as_text=True)) == [runs["rep1"]]
    assert _run_ids(ui.get("/runs?dag_id=etl&start=2024-03-02", "op").get_data(as_text=True)) == [runs["etl2"]]
    assert _run_ids(ui.get("/runs?offset=2", "op").get_data(as_text=True)) == [runs["etl1"]]
    assert ui.get("/runs?state=exploded", "op").status_code == 422
    assert ui.get("/runs?start=yesterday-ish", "op").status_code == 422
    assert "not found" in ui.get("/runs?dag_id=nope", "op").get_data(as_text=True)


def test_task_instances_across_dags(ui: Ui, runs: dict[str, str]) -> None:
    html = ui.get("/task-instances?state=failed&state=upstream_failed", "viewer").get_data(as_text=True)
    assert html.count("state-failed") == 2 and html.count("state-upstream_failed") == 1
    assert 'name="key"' not in html and "Preview" not in html  # a viewer gets no bulk actions
    forged = {"action": "clear", "key": f"etl|{runs['etl1']}|extract|-1"}
    assert ui.post("/task-instances/bulk", "viewer", forged).status_code == 403
    assert ui.post("/runs/bulk-delete", "viewer", {"key": f"etl|{runs['etl1']}"}).status_code == 403


def test_clear_failed_task_instances_with_preview(ui: Ui, runs: dict[str, str]) -> None:
    listed = "/task-instances?state=failed&date_field=logical_date&start=2024-03-01"
    form = {"action": "clear", "all_matching": "1", "next": listed}
    preview = ui.post(f"{listed}".replace("/task-instances", "/task-instances/bulk"), "op", form)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "dry run" in html and "Clear 2" in html
    assert get_task_instance(ui.db, "report", runs["rep1"], "render").state == "failed"  # nothing changed yet
    keys = re.findall(r'name="key" value="([^"]+)"', html)
    assert sorted(keys) == sorted([f"etl|{runs['etl1']}|extract|-1", f"report|{runs['rep1']}|render|-1"])

    confirmed = ui.post(
        "/task-instances/bulk", "op", {"action": "clear", "key": keys, "confirmed": "1", "next": listed}
    )
    assert confirmed.status_code == 303 and confirmed.headers["Location"].endswith(listed)
    assert get_task_instance(ui.db, "report", runs["rep1"], "render").state is None
    assert "Clear: 2 task instances changed." in ui.get(listed, "op").get_data(as_text=True)
    cleared = query_events(ui.db, EventFilter(event="clear", owner="op"), Slice()).items
    assert {e.run_id for e in cleared} == {runs["etl1"], runs["rep1"]}

    outside = ui.post("/task-instances/bulk", "op", {"action": "clear", "key": keys[0], "next": "https://evil.test/"})
    assert "Nothing to do" in outside.get_data(as_text=True)  # already cleared; and next= stays on this site
    assert 'href="https://evil.test/"' not in outside.get_data(as_text=True)


def test_mark_and_delete_runs(ui: Ui, runs: dict[str, str]) -> None:
    key = f"etl|{runs['etl2']}"
    preview = ui.post("/runs/bulk", "op", {"action": "mark_failed", "key": key}).get_data(as_text=True)
    assert "Mark failed 1" in preview
    done = ui.post("/runs/bulk", "op", {"action": "mark_failed", "key": key, "confirmed": "1"})
    assert done.status_code == 303
    assert "state-failed" in ui.get("/runs?dag_id=etl&start=2024-03-02", "op").get_data(as_text=True)
    assert ui.post("/runs/bulk", "op", {"action": "delete", "key": key}).status_code == 422  # delete has its own route
    assert ui.post("/runs/bulk", "op", {"action": "clear"}).status_code == 422  # nothing selected
    assert ui.post("/runs/bulk-delete", "op", {"key": key, "confirmed": "1"}).status_code == 303
    assert runs["etl2"] not in ui.get("/runs", "op").get_data(as_text=True)
