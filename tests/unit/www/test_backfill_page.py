"""``/dags/<dag_id>/backfill``: dry run listing the runs, create, live progress, cancel."""

from __future__ import annotations

from dagflow.services.backfills import list_backfills
from dagflow.services.events import EventFilter, query_events
from dagflow.services.listing import Slice
from tests.unit.www.conftest import Ui

FORM = {"start": "2024-01-01T00:00", "end": "2024-01-03T00:00", "reprocess_behavior": "none", "max_active_runs": "2"}


def test_dry_run_then_create_then_cancel(ui: Ui) -> None:
    viewer = ui.get("/dags/ui_dag/backfill", "viewer").get_data(as_text=True)
    assert "No backfills yet" in viewer and "Create backfill" not in viewer  # a viewer reads, cannot create
    assert "No scheduler is running" in viewer
    assert ui.post("/dags/ui_dag/backfill", "viewer", {**FORM, "dry_run": "1"}).status_code == 403

    dry = ui.post("/dags/ui_dag/backfill", "op", {**FORM, "dry_run": "1"})
    html = dry.get_data(as_text=True)
    assert dry.status_code == 200 and "Dry run: 3 runs would be created" in html
    assert html.count("<td>create</td>") == 3 and 'value="2024-01-03T00:00"' in html  # the form keeps its values
    assert list_backfills(ui.db, "ui_dag") == []  # a dry run stores nothing

    created = ui.post("/dags/ui_dag/backfill", "op", {**FORM, "dry_run": "0"})
    assert created.status_code == 303 and created.headers["Location"] == "/dags/ui_dag/backfill"
    [stored] = list_backfills(ui.db, "ui_dag")
    assert (stored["status"], stored["max_active_runs"]) == ("running", 2)
    fragment = ui.get("/dags/ui_dag/backfill/progress", "viewer").get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in fragment and "0 / 3" in fragment
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "dry_run": "0"}).status_code == 409  # one at a time

    cancel = f"/dags/ui_dag/backfills/{stored['id']}/cancel"
    assert "Cancel backfill" in ui.post(cancel, "op").get_data(as_text=True)
    assert ui.post(cancel, "op", {"confirmed": "1"}).status_code == 303
    assert list_backfills(ui.db, "ui_dag")[0]["status"] == "cancelled"
    assert "hx-trigger" not in ui.get("/dags/ui_dag/backfill/progress", "viewer").get_data(as_text=True)
    names = [e.event for e in query_events(ui.db, EventFilter(dag_id="ui_dag", owner="op"), Slice()).items]
    assert sorted(names) == ["cancel_backfill", "create_backfill"]


def test_bad_backfill_input_is_refused_with_one_line(ui: Ui) -> None:
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "end": "2023-01-01"}).status_code == 422
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "conf": "[1, 2]"}).status_code == 422
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "max_active_runs": "0"}).status_code in (400, 422)
    unscheduled = ui.post("/dags/ui_other/backfill", "op", {**FORM, "dry_run": "1"})
    assert unscheduled.status_code == 422 and "nothing to backfill" in unscheduled.get_data(as_text=True)
    assert ui.get("/dags/missing/backfill", "op").status_code == 404
