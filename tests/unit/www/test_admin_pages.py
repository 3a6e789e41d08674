"""``/events``, ``/import-errors``, ``/sla-misses``, ``/pools``, ``/variables``, ``/connections``, ``/users``, and
``/dags/<dag_id>/backfill`` (dry run listing the runs, create, live progress, cancel): one app for all."""

from __future__ import annotations

import pendulum

from dagflow.models import ImportError_, SlaMiss
from dagflow.services import connections, users, variables
from dagflow.services.backfills import list_backfills
from dagflow.services.events import EventFilter, query_events
from dagflow.services.listing import Slice
from tests.unit.www.conftest import PASSWORD, Ui


def _text(ui: Ui, path: str, role: str = "admin") -> str:
    response = ui.get(path, role)
    assert response.status_code == 200, (path, role, response.status_code)
    return response.get_data(as_text=True)


def test_pools_list_edit_delete_as_the_roles_allow(ui: Ui) -> None:
    assert "default_pool" in _text(ui, "/pools", "viewer")
    assert 'action="/pools"' not in _text(ui, "/pools", "viewer")  # no form for a viewer
    assert ui.post("/pools", "viewer", {"name": "etl", "slots": "3"}).status_code == 403
    saved = ui.post("/pools", "op", {"name": "etl", "slots": "3", "description": "ETL"})
    assert saved.status_code == 303 and saved.headers["Location"] == "/pools"
    assert ui.post("/pools", "op", {"name": "etl", "slots": "many"}).status_code == 422
    assert 'value="ETL"' in _text(ui, "/pools?edit=etl", "op")
    asked = ui.post("/pools/etl/delete", "op")
    assert asked.status_code == 200 and "Delete pool etl?" in asked.get_data(as_text=True)
    assert "etl" in _text(ui, "/pools", "op")  # the first POST only asks
    assert ui.post("/pools/etl/delete", "op", {"confirmed": "1"}).status_code == 303
    assert "<td>etl</td>" not in _text(ui, "/pools", "op")
    assert ui.post("/pools/default_pool/delete", "op", {"confirmed": "1"}).status_code == 400


def test_variables_mask_sensitive_values_and_keep_them_when_left_blank(ui: Ui) -> None:
    variables.set_variable(ui.db, "region", "eu-west-1")
    variables.set_variable(ui.db, "warehouse_password", "pw-never-shown-123")
    assert ui.get("/variables", "viewer").status_code == 403  # variables are op and admin
    page = _text(ui, "/variables", "op")
    assert "eu-west-1" in page and "pw-never-shown-123" not in page and "***" in page
    editing = _text(ui, "/variables?edit=warehouse_password", "op")
    assert "pw-never-shown-123" not in editing and "leave empty to keep" in editing
    assert ui.post("/variables", "op", {"key": "warehouse_password", "value": ""}).status_code == 303
    assert variables.get_variable(ui.db, "warehouse_password") == "pw-never-shown-123"
    assert ui.post("/variables", "op", {"key": "region", "value": "us-east-2"}).status_code == 303
    assert variables.get_variable(ui.db, "region") == "us-east-2"
    assert ui.post("/variables/region/delete", "op", {"confirmed": "1"}).status_code == 303
    assert "us-east-2" not in _text(ui, "/variables", "op")


def test_connections_are_admin_only_and_the_password_write_only(ui: Ui) -> None:
    assert ui.get("/connections", "op").status_code == 403
    form = {"conn_id": "wh", "conn_type": "postgres", "host": "db", "login": "u", "password": "conn-secret-pw-9"}
    assert ui.post("/connections", "admin", form).status_code == 303
    assert ui.post("/connections", "admin", form).status_code == 422  # exists already
    page = _text(ui, "/connections?edit=wh")
    assert "conn-secret-pw-9" not in page and 'name="password" value=""' in page
    edit = {**form, "password": "", "host": "db2", "existing": "1", "extra": '{"sslmode": "require"}'}
    assert ui.post("/connections", "admin", edit).status_code == 303
    stored = connections.get_connection(ui.db, "wh", show_password=True)
    assert (stored.host, stored.password, stored.extra) == ("db2", "conn-secret-pw-9", {"sslmode": "require"})
    assert ui.post("/connections", "admin", {**edit, "extra": "[1]"}).status_code == 422
    assert ui.post("/connections/wh/delete", "admin", {"confirmed": "1"}).status_code == 303
    edits = query_events(ui.db, EventFilter(owner="admin"), Slice(order_by=("id",))).items
    assert [e.event for e in edits][-3:] == ["add_connection", "edit_connection", "delete_connection"]


def test_users_page_creates_changes_and_deletes(ui: Ui) -> None:
    assert ui.get("/users", "op").status_code == 403
    assert ui.post("/users", "admin", {"username": "dana", "role": "viewer", "password": PASSWORD}).status_code == 303
    assert "dana" in _text(ui, "/users")
    assert ui.post("/users/dana/edit", "admin", {"role": "op", "is_active": "1"}).status_code == 303
    assert users.get_user(ui.db, "dana").role == "op"
    assert ui.post("/users/dana/edit", "admin", {"role": "op"}).status_code == 303  # unticked: deactivated
    assert not users.get_user(ui.db, "dana").is_active
    assert ui.post("/users/admin/edit", "admin", {"role": "viewer", "is_active": "1"}).status_code == 409
    assert ui.post("/users/admin/delete", "admin", {"confirmed": "1"}).status_code == 409
    assert ui.post("/users/dana/delete", "admin", {"confirmed": "1"}).status_code == 303
    assert "<td>dana</td>" not in _text(ui, "/users")


def test_import_errors_and_sla_misses(ui: Ui) -> None:
    with ui.db.transaction() as session:
        session.add(
            ImportError_(filename="/dags/broken.py", lineno=7, message="SyntaxError: bad", stacktrace="Trace <b>x")
        )
        now = pendulum.now("UTC")
        session.add(SlaMiss(dag_id="ui_dag", task_id="a", run_id="r1", expected_by=now, late_by_seconds=90.0))
    page = _text(ui, "/import-errors", "viewer")
    assert "/dags/broken.py</code>, line 7" in page and "Trace &lt;b&gt;x" in page
    misses = _text(ui, "/sla-misses?dag_id=ui_dag", "viewer")
    assert "r1" in misses and "1 min 30 s" in misses
    assert "No SLA misses" in _text(ui, "/sla-misses?dag_id=ui_other", "viewer")


def test_events_page_filters_and_names_who(ui: Ui) -> None:
    ui.post("/pools", "op", {"name": "audit_pool", "slots": "2"})
    page = _text(ui, "/events?event=set_pool&owner=op", "viewer")
    assert "audit_pool" in page and "<td><a" in page
    assert "audit_pool" not in _text(ui, "/events?event=set_pool&owner=nobody", "viewer")
    assert "audit_pool" not in _text(ui, "/events?before=2000-01-01", "viewer")
    assert ui.get("/events?after=soon", "viewer").status_code == 422
    assert ui.get("/events", "anon").status_code == 302


# --- the backfill page ----------------------------------------------------------------------
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
    assert (stored.status, stored.max_active_runs) == ("running", 2)
    fragment = ui.get("/dags/ui_dag/backfill/progress", "viewer").get_data(as_text=True)
    assert 'hx-trigger="every 3s"' in fragment and "0 / 3" in fragment
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "dry_run": "0"}).status_code == 409  # one at a time

    pause, unpause = f"/dags/ui_dag/backfills/{stored.id}/pause", f"/dags/ui_dag/backfills/{stored.id}/unpause"
    op_page = ui.get("/dags/ui_dag/backfill", "op").get_data(as_text=True)
    assert f'data-ask="Pause backfill {stored.id}?"' in op_page and 'data-action="ui.pause_backfill"' not in fragment
    assert "Pause backfill" in ui.post(pause, "op").get_data(as_text=True)  # the confirm step changes nothing
    assert list_backfills(ui.db, "ui_dag")[0].status == "running"
    assert ui.post(pause, "viewer", {"confirmed": "1"}).status_code == 403
    assert ui.post(pause, "op", {"confirmed": "1"}).status_code == 303
    assert list_backfills(ui.db, "ui_dag")[0].status == "paused"
    assert 'data-action="ui.unpause_backfill"' in ui.get("/dags/ui_dag/backfill", "op").get_data(as_text=True)
    assert ui.post(unpause, "op", {"confirmed": "1"}).status_code == 303
    assert list_backfills(ui.db, "ui_dag")[0].status == "running"

    cancel = f"/dags/ui_dag/backfills/{stored.id}/cancel"
    assert "Cancel backfill" in ui.post(cancel, "op").get_data(as_text=True)
    assert ui.post(cancel, "op", {"confirmed": "1"}).status_code == 303
    assert list_backfills(ui.db, "ui_dag")[0].status == "cancelled"
    assert "hx-trigger" not in ui.get("/dags/ui_dag/backfill/progress", "viewer").get_data(as_text=True)
    names = [e.event for e in query_events(ui.db, EventFilter(dag_id="ui_dag", owner="op"), Slice()).items]
    assert sorted(names) == ["cancel_backfill", "create_backfill", "pause_backfill", "unpause_backfill"]


def test_bad_backfill_input_is_refused_with_one_line(ui: Ui) -> None:
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "end": "2023-01-01"}).status_code == 422
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "conf": "[1, 2]"}).status_code == 422
    assert ui.post("/dags/ui_dag/backfill", "op", {**FORM, "max_active_runs": "0"}).status_code in (400, 422)
    unscheduled = ui.post("/dags/ui_other/backfill", "op", {**FORM, "dry_run": "1"})
    assert unscheduled.status_code == 422 and "nothing to backfill" in unscheduled.get_data(as_text=True)
    assert ui.get("/dags/missing/backfill", "op").status_code == 404
