"""``/dags/{dag_id}/tasks/{task_id}/disable|enable`` and ``/dags/{dag_id}/taskSwitches``."""

from __future__ import annotations

import pytest

from dagflow.models import EventLog
from tests.unit.api.conftest import RUN_ID, Api

SQLITE = pytest.mark.parametrize("db_any", ["sqlite"], indirect=True)
TASK_B = "/api/v2/dags/api_dag/tasks/b"


@SQLITE
def test_disable_and_enable_a_task_through_the_api(api: Api) -> None:
    assert api.call("POST", f"{TASK_B}/disable", "viewer", json={}).status_code == 403
    everywhere = api.call("POST", f"{TASK_B}/disable", "op", json={"reason": "vendor outage"})
    assert everywhere.status_code == 200, everywhere.json
    assert everywhere.json["dag_run_id"] is None and everywhere.json["disabled_by"] == "op"
    one_run = api.call("POST", "/api/v2/dags/api_dag/tasks/a/disable", json={"dag_run_id": RUN_ID})
    assert one_run.status_code == 200 and one_run.json["dag_run_id"] == RUN_ID

    listed = api.get("/api/v2/dags/api_dag/taskSwitches", "viewer").json
    assert listed["total_entries"] == 2
    assert [(s["task_id"], s["dag_run_id"], s["reason"]) for s in listed["task_switches"]] == [
        ("b", None, "vendor outage"),
        ("a", RUN_ID, None),
    ]

    assert api.call("POST", f"{TASK_B}/enable", "op", json={}).status_code == 200
    assert api.call("POST", f"{TASK_B}/enable", json={}).status_code == 404  # not disabled any more
    assert api.call("POST", "/api/v2/dags/api_dag/tasks/a/enable", json={}).status_code == 404  # only for its run
    assert api.call("POST", "/api/v2/dags/api_dag/tasks/a/enable", json={"dag_run_id": RUN_ID}).status_code == 200
    assert api.get("/api/v2/dags/api_dag/taskSwitches").json["total_entries"] == 0

    assert api.call("POST", "/api/v2/dags/api_dag/tasks/nope/disable", json={}).status_code == 404
    assert api.call("POST", f"{TASK_B}/disable", json={"dag_run_id": "no_such_run"}).status_code == 404
    assert api.call("POST", f"{TASK_B}/disable", json={"why": "x"}).status_code == 422  # unknown field
    with api.db.transaction() as session:
        actors = [e.actor for e in session.query(EventLog).filter(EventLog.event == "disable_task")]
    assert actors == ["op", "admin"]
