"""The audit event log: state-changing calls record who did what; ``GET /api/v2/eventLogs`` lists them."""

from __future__ import annotations

import json

import pendulum
import pytest

from dagflow.services import events
from dagflow.services.events import EventFilter
from dagflow.services.listing import Slice
from tests.unit.api.conftest import RUN_ID, Api

sqlite_only = pytest.mark.parametrize("db_any", ["sqlite"], indirect=True)


def _events(api: Api, role: str = "viewer", **params: object) -> list[dict[str, object]]:
    response = api.get("/api/v2/eventLogs", role, query_string=params)
    assert response.status_code == 200, response.json
    body = response.json
    assert body["total_entries"] >= len(body["event_logs"])
    return list(body["event_logs"])


@sqlite_only  # the row-value and paging queries run on PostgreSQL in tests/unit/services/test_bulk.py
def test_api_calls_are_recorded_with_the_user_and_listed_with_filters(api: Api) -> None:
    before = pendulum.now("UTC")
    assert api.call("PATCH", "/api/v2/dags/api_dag", "op", json={"is_paused": False}).status_code == 200
    trigger = {"logical_date": "2024-03-01T00:00:00Z", "conf": {"n": 2}}
    triggered = api.call("POST", "/api/v2/dags/api_dag/dagRuns", "op", json=trigger).json["dag_run_id"]
    patch = {"new_state": "failed"}
    assert (
        api.call("PATCH", f"/api/v2/dags/api_dag/dagRuns/{triggered}/taskInstances/a", "op", json=patch).status_code
        < 300
    )
    clear = {"dag_run_id": triggered, "task_ids": ["a"], "only_failed": True, "dry_run": False}
    assert api.call("POST", "/api/v2/dags/api_dag/clearTaskInstances", "admin", json=clear).status_code < 300
    refused = api.call("POST", "/api/v2/dags/api_dag/dagRuns", "op", json={"logical_date": None, "conf": {"n": "x"}})
    assert refused.status_code == 422  # a refused request records nothing

    mine = _events(api, dag_id="api_dag", after=before.isoformat(), order_by="id")
    assert [(e["event"], e["owner"]) for e in mine] == [
        ("unpause", "op"),
        ("trigger", "op"),
        ("mark_task_instance", "op"),
        ("clear", "admin"),
    ]
    trig, mark, cleared = mine[1], mine[2], mine[3]
    assert trig["run_id"] == triggered and trig["logical_date"].startswith("2024-03-01")
    assert json.loads(str(trig["extra"]))["conf"] == {"n": 2}
    assert (mark["task_id"], mark["map_index"], json.loads(str(mark["extra"]))["state"]) == ("a", -1, "failed")
    assert cleared["task_id"] == "a" and json.loads(str(cleared["extra"]))["count"] == 1

    # the fixture's own trigger ran outside any request: nobody is named
    assert [(e["run_id"], e["owner"]) for e in _events(api, event="trigger", run_id=RUN_ID)] == [(RUN_ID, None)]
    assert {e["event"] for e in _events(api, owner="admin")} == {"clear"}
    assert [e["event"] for e in _events(api, included_events=["clear", "unpause"], order_by="-when")] == [
        "clear",
        "unpause",
    ]
    assert "trigger" not in {e["event"] for e in _events(api, excluded_events="trigger")}
    assert _events(api, before=before.isoformat(), event="unpause") == []
    page = api.get("/api/v2/eventLogs?dag_id=api_dag&limit=2&offset=1&order_by=id", "viewer").json
    assert page["total_entries"] == 5 and [e["event"] for e in page["event_logs"]] == ["unpause", "trigger"]
    one = api.get(f"/api/v2/eventLogs/{mark['event_log_id']}", "viewer").json
    assert one == mark
    assert api.get("/api/v2/eventLogs/999999").status_code == 404
    assert api.get("/api/v2/eventLogs?order_by=password").status_code == 422


@sqlite_only
def test_edits_never_record_secrets_and_the_service_filters(api: Api) -> None:
    assert api.call("POST", "/api/v2/pools", "op", json={"name": "etl", "slots": 3}).status_code < 300
    assert api.call("DELETE", "/api/v2/pools/etl", "op").status_code == 204
    assert (
        api.call("POST", "/api/v2/variables", "op", json={"key": "db_password", "value": "hunter2-secret"}).status_code
        < 300
    )
    assert api.call("DELETE", "/api/v2/variables/db_password", "op").status_code == 204
    conn = {"connection_id": "wh", "conn_type": "postgres", "password": "pg-secret-pw", "host": "h"}
    assert api.call("POST", "/api/v2/connections", "admin", json=conn).status_code < 300
    from dagflow.services import users

    with events.acting_as("root-admin"):
        users.set_role(api.db, "viewer", "op")

    listed = _events(api, "admin", order_by="id", excluded_events=["trigger", "create_user"])
    assert [(e["event"], e["owner"]) for e in listed] == [
        ("set_pool", "op"),
        ("delete_pool", "op"),
        ("set_variable", "op"),
        ("delete_variable", "op"),
        ("add_connection", "admin"),
        ("set_user_role", "root-admin"),
    ]
    text = json.dumps(listed)
    assert "hunter2-secret" not in text and "pg-secret-pw" not in text
    assert json.loads(str(listed[2]["extra"])) == {"key": "db_password"}

    # the service: filters, newest first, event names; each request puts its actor back
    with events.acting_as("alice"):
        for task_id in ("a", "b"):
            api.call(
                "PATCH", f"/api/v2/dags/api_dag/dagRuns/{RUN_ID}/taskInstances/{task_id}", "op", json={"note": "x"}
            )
    page = events.query_events(api.db, EventFilter(task_id="b"), Slice())
    assert [(e.event, e.actor, e.task_id) for e in page.items] == [("set_task_instance_note", "op", "b")]
    newest_first = events.query_events(api.db, EventFilter(), Slice(limit=1))
    assert newest_first.total == 12 and newest_first.items[0].task_id == "b"
    assert "set_task_instance_note" in events.event_names(api.db)
    assert events.current_actor() is None  # each request put its actor back
