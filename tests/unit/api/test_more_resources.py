"""Tasks, DAG sources, XComs, marking with relatives (and dry runs), dependencies, backfills, approvals,
SLA misses, the state store and per-DAG ``access_control``, through the Flask test client on SQLite."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.dag_processing.sync import sync_folders
from dagflow.exceptions import DagDefinitionError
from dagflow.execution.xcom import write_xcom
from dagflow.models import ImportError_, SlaMiss, TaskInstance, set_ti_state
from dagflow.sdk.dag import normalize_access_control
from dagflow.services.dag_runs import trigger_dag
from dagflow.state import TaskInstanceState
from tests.unit.api.conftest import RUN_ID, Api

SQLITE = pytest.mark.parametrize("db_any", ["sqlite"], indirect=True)

RUNS = "/api/v2/dags/api_dag/dagRuns"
TI_A = f"{RUNS}/{RUN_ID}/taskInstances/a"
RUN_2 = "manual__2024-02-02T00:00:00+00:00"


def _set_state(api: Api, dag_id: str, run_id: str, task_id: str, state: TaskInstanceState) -> None:
    with api.db.transaction() as session:
        ti = session.scalar(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id
            )
        )
        assert ti is not None
        assert set_ti_state(session, [ti.id], to=state, expected=[ti.state]) == 1


@SQLITE
def test_tasks_and_dag_source(api: Api) -> None:
    tasks = api.get("/api/v2/dags/api_dag/tasks", "viewer").json
    assert [t["task_id"] for t in tasks["tasks"]] == ["a", "b"] and tasks["total_entries"] == 2
    a = tasks["tasks"][0]
    assert a["retries"] == 2 and a["downstream_task_ids"] == ["b"] and a["operator_name"] == "EmptyOperator"
    assert a["retry_delay"] == {"__type": "TimeDelta", "days": 0, "seconds": 300, "microseconds": 0}
    assert [t["task_id"] for t in api.get("/api/v2/dags/api_dag/tasks?order_by=-task_id").json["tasks"]] == ["b", "a"]
    assert api.get("/api/v2/dags/api_dag/tasks/b").json["trigger_rule"] == "all_success"
    assert api.get("/api/v2/dags/api_dag/tasks/zz").status_code == 404
    assert api.get("/api/v2/dags/nope/tasks").status_code == 404
    assert api.get("/api/v2/dags/api_dag/tasks?order_by=bogus").status_code == 422

    source = api.get("/api/v2/dagSources/api_dag", "viewer")
    assert source.status_code == 200 and 'with DAG("api_dag"' in source.json["content"]
    assert source.json["version_number"] == 1 and source.json["dag_id"] == "api_dag"
    text = api.client.get("/api/v2/dagSources/api_dag", headers={**api.headers["admin"], "Accept": "text/plain"})
    assert text.mimetype == "text/plain" and text.data.decode() == source.json["content"]
    assert api.get("/api/v2/dagSources/api_dag?version_number=2").status_code == 404
    assert api.get("/api/v2/dagSources/nope").status_code == 404


@SQLITE
def test_xcom_entries(api: Api) -> None:
    with api.db.transaction() as session:
        for key, value in (("return_value", {"rows": 3}), ("extra", [1, 2])):
            write_xcom(session, dag_id="api_dag", run_id=RUN_ID, task_id="a", map_index=-1, key=key, stored=value)
    listed = api.get(f"{TI_A}/xcomEntries", "viewer").json
    assert [x["key"] for x in listed["xcom_entries"]] == ["extra", "return_value"] and listed["total_entries"] == 2
    assert "value" not in listed["xcom_entries"][0]
    assert api.get(f"{TI_A}/xcomEntries?xcom_key=extra").json["total_entries"] == 1
    assert api.get("/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries").json["total_entries"] == 2
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/xcomEntries").json["total_entries"] == 0

    entry = api.get(f"{TI_A}/xcomEntries/return_value").json
    assert entry["value"] == {"rows": 3} and entry["map_index"] == -1 and entry["task_id"] == "a"
    assert api.get(f"{TI_A}/xcomEntries/return_value?stringify=true").json["value"] == '{"rows": 3}'
    assert api.get(f"{TI_A}/xcomEntries/missing").status_code == 404
    assert api.get(f"{TI_A}/xcomEntries/return_value?map_index=0").status_code == 404


@SQLITE
def test_mark_with_relatives_and_other_runs_dry_run_first(api: Api) -> None:
    trigger_dag(api.db.settings, api.db, "api_dag", run_id=RUN_2, logical_date=pendulum.datetime(2024, 2, 2))
    body = {"new_state": "success", "include_downstream": True}

    dry = api.call("PATCH", f"{TI_A}/dry_run", json=body)
    assert dry.status_code == 200
    assert sorted((t["dag_run_id"], t["task_id"]) for t in dry.json["task_instances"]) == [(RUN_ID, "a"), (RUN_ID, "b")]
    assert api.get(TI_A).json["state"] is None  # a dry run writes nothing
    assert api.call("PATCH", f"{TI_A}/dry_run", "viewer", json=body).status_code == 403

    future = api.call("PATCH", TI_A, json={"new_state": "failed", "include_future": True})
    assert future.status_code == 200
    assert sorted(t["dag_run_id"] for t in future.json["task_instances"]) == [RUN_ID, RUN_2]
    assert {t["state"] for t in future.json["task_instances"]} == {"failed"}

    upstream = api.call(
        "PATCH", f"{RUNS}/{RUN_2}/taskInstances/b", json={"new_state": "skipped", "include_upstream": True}
    )
    assert sorted((t["task_id"], t["state"]) for t in upstream.json["task_instances"]) == [
        ("a", "skipped"),
        ("b", "skipped"),
    ]
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/b").json["state"] is None  # other run untouched

    note = api.call("PATCH", TI_A, json={"note": "checked"})
    assert note.status_code == 200 and note.json["task_instances"][0]["note"] == "checked"
    assert api.call("PATCH", f"{RUNS}/{RUN_ID}/taskInstances/zz", json={"new_state": "failed"}).status_code == 404
    assert api.call("PATCH", TI_A, json={"new_state": "running"}).status_code == 422


@SQLITE
def test_dependencies_say_why_a_task_does_not_run(api: Api) -> None:
    deps = api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/dependencies", "viewer").json["dependencies"]
    names = {d["name"]: d["reason"] for d in deps}
    assert "Trigger Rule" in names and "'all_success'" in names["Trigger Rule"] and "['a']" in names["Trigger Rule"]
    assert "Dag Not Paused" in names  # the fixture's DAGs are paused at creation

    api.call("PATCH", "/api/v2/dags/api_dag", json={"is_paused": False})
    _set_state(api, "api_dag", RUN_ID, "a", TaskInstanceState.SUCCESS)
    held = api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/dependencies").json["dependencies"]
    assert [d["name"] for d in held] == ["Dagrun Running"] and "queued" in held[0]["reason"]  # upstream done

    _set_state(api, "api_dag", RUN_ID, "b", TaskInstanceState.SUCCESS)
    deps = api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/dependencies").json["dependencies"]
    assert [d["name"] for d in deps] == ["Task Instance State"] and "'success'" in deps[0]["reason"]
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/-1/dependencies").json["dependencies"] == deps
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/zz/dependencies").status_code == 404


@SQLITE
def test_backfills_create_pause_unpause_cancel(api: Api) -> None:
    body = {"dag_id": "api_dag", "from_date": "2024-01-01T00:00:00Z", "to_date": "2024-01-03T00:00:00Z"}
    dry = api.call("POST", "/api/v2/backfills/dry_run", json=body)
    assert dry.status_code == 200 and dry.json["total_entries"] == 3
    assert [b["logical_date"][:10] for b in dry.json["backfills"]] == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert api.get("/api/v2/backfills").json["total_entries"] == 0  # a dry run writes nothing
    assert api.call("POST", "/api/v2/backfills", "viewer", json=body).status_code == 403

    created = api.call("POST", "/api/v2/backfills", "op", json={**body, "max_active_runs": 2})
    assert created.status_code == 200
    backfill = created.json
    assert (backfill["dag_id"], backfill["is_paused"], backfill["max_active_runs"]) == ("api_dag", False, 2)
    assert backfill["completed_at"] is None and backfill["reprocess_behavior"] == "none"
    assert api.call("POST", "/api/v2/backfills", json=body).status_code == 409  # one at a time per DAG

    path = f"/api/v2/backfills/{backfill['id']}"
    assert api.call("PUT", f"{path}/pause", "op").json["is_paused"] is True
    assert api.get(path, "viewer").json["is_paused"] is True
    assert api.call("PUT", f"{path}/unpause", "op").json["is_paused"] is False
    cancelled = api.call("PUT", f"{path}/cancel", "op").json
    assert cancelled["is_paused"] is True and cancelled["completed_at"] is not None
    assert api.call("PUT", f"{path}/pause").status_code == 409
    assert api.call("PUT", f"{path}/cancel").status_code == 409
    assert api.get("/api/v2/backfills?dag_id=api_dag").json["total_entries"] == 1
    assert api.get("/api/v2/backfills?dag_id=api_other").json["total_entries"] == 0
    assert api.get("/api/v2/backfills/999").status_code == 404

    bad = {**body, "from_date": "2024-01-05T00:00:00Z", "to_date": "2024-01-01T00:00:00Z"}
    assert api.call("POST", "/api/v2/backfills/dry_run", json=bad).status_code == 422
    assert api.call("POST", "/api/v2/backfills", json={**body, "dag_id": "nope"}).status_code == 404
    assert api.call("POST", "/api/v2/backfills", json={**body, "reprocess_behavior": "all"}).status_code == 422


@SQLITE
def test_approve_and_reject_an_approval_task(api: Api) -> None:
    run_ids = []
    for day in (1, 2):
        run_id = f"manual__2024-03-0{day}"
        trigger_dag(api.db.settings, api.db, "api_other", run_id=run_id, logical_date=pendulum.datetime(2024, 3, day))
        run_ids.append(run_id)
    first, second = (f"/api/v2/dags/api_other/dagRuns/{r}/taskInstances/wait" for r in run_ids)
    assert api.call("POST", f"{first}/approve", json={}).status_code == 409  # not waiting yet

    for run_id in run_ids:
        _set_state(api, "api_other", run_id, "wait", TaskInstanceState.SCHEDULED)
    assert api.call("POST", f"{first}/approve", "viewer", json={}).status_code == 403
    approved = api.call("POST", f"{first}/approve", "op", json={"comment": "ship it"})
    assert approved.status_code == 200
    assert (approved.json["decision"], approved.json["comment"]) == ("approved", "ship it")
    assert api.call("POST", f"{first}/reject", json={}).status_code == 409  # decided already
    rejected = api.call("POST", f"{second}/reject", json={})
    assert rejected.status_code == 200 and rejected.json["decision"] == "rejected"
    assert api.call("POST", f"{TI_A}/approve", json={}).status_code == 409  # not an approval task


@SQLITE
def test_sla_misses_and_state_store(api: Api) -> None:
    when = datetime(2024, 2, 1, tzinfo=UTC)
    with api.db.transaction() as session:
        session.add(
            SlaMiss(
                dag_id="api_dag", task_id="a", run_id=RUN_ID, logical_date=when, expected_by=when, late_by_seconds=5.0
            )
        )
    misses = api.get("/api/v2/slaMisses", "viewer").json
    assert misses["total_entries"] == 1 and misses["sla_misses"][0]["dag_run_id"] == RUN_ID
    assert api.get("/api/v2/slaMisses?dag_id=api_other").json["total_entries"] == 0

    entry = "/api/v2/stateStore/etl/watermark"
    assert api.get(entry).status_code == 404
    assert api.call("PUT", entry, "viewer", json={"value": 1}).status_code == 403
    put = api.call("PUT", entry, "op", json={"value": {"last": "2024-02-01"}})
    assert put.status_code == 200 and put.json["value"] == {"last": "2024-02-01"}
    assert api.get(entry, "viewer").json["value"] == {"last": "2024-02-01"}
    assert api.get("/api/v2/stateStore?namespace=etl").json["total_entries"] == 1
    assert api.get("/api/v2/stateStore?namespace=other").json["total_entries"] == 0
    assert api.call("PUT", entry, json={"value": 1, "extra": 2}).status_code == 422
    assert api.get(entry).json["version"] == 1
    stale = api.call("PUT", entry, "op", json={"value": 2, "expected_version": 0})
    assert stale.status_code == 409 and "at version 1, expected 0" in stale.get_data(as_text=True)
    cas = api.call("PUT", entry, "op", json={"value": 2, "expected_version": 1, "ttl": 60})
    assert cas.status_code == 200 and cas.json["version"] == 2 and cas.json["expires_at"] is not None
    assert api.call("PUT", entry, "op", json={"value": 2, "ttl": 0}).status_code == 422
    assert api.get("/api/v2/stateStore?namespace=etl&prefix=water").json["total_entries"] == 1
    assert api.get("/api/v2/stateStore?namespace=etl&prefix=x").json["total_entries"] == 0
    assert api.call("DELETE", entry, "op").status_code == 204
    assert api.call("DELETE", entry).status_code == 404


SECRET_DAG = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("secret_dag", schedule=None, start_date=datetime(2024, 1, 1), tags=["secret"],
         access_control={"op": {"can_read"}}):
    EmptyOperator(task_id="t")
"""


@SQLITE
def test_access_control_hides_and_refuses_a_dag(api: Api) -> None:
    settings = api.db.settings
    folder = settings.core.dags_folder
    (folder / "secret.py").write_text(textwrap.dedent(SECRET_DAG))
    sync_folders(api.db, [folder], paused_at_creation=True)
    trigger_dag(settings, api.db, "secret_dag", run_id="manual__s1")

    def dag_ids(role: str) -> set[str]:
        return {d["dag_id"] for d in api.get("/api/v2/dags", role).json["dags"]}

    assert "secret_dag" not in dag_ids("viewer") and "secret_dag" in dag_ids("op") and "secret_dag" in dag_ids("admin")
    assert "secret" not in api.get("/api/v2/dagTags", "viewer").json["tags"]
    assert api.get("/api/v2/dags/secret_dag", "viewer").status_code == 403
    assert api.get("/api/v2/dags/secret_dag/dagRuns/manual__s1/taskInstances", "viewer").status_code == 403
    assert api.get("/api/v2/dags/secret_dag", "op").status_code == 200
    runs = {r["dag_id"] for r in api.get("/api/v2/dags/~/dagRuns", "viewer").json["dag_runs"]}
    assert runs == {"api_dag"}
    tis = {t["dag_id"] for t in api.get("/api/v2/dags/~/dagRuns/~/taskInstances", "viewer").json["task_instances"]}
    assert "secret_dag" not in tis

    # op may read it but not edit it (its access_control gives op can_read only); admin is never restricted
    assert api.call("PATCH", "/api/v2/dags/secret_dag", "op", json={"is_paused": False}).status_code == 403
    assert api.call("POST", "/api/v2/dags/secret_dag/dagRuns", "op", json={"logical_date": None}).status_code == 403
    bulk = api.call("PATCH", "/api/v2/dags?dag_id_pattern=dag", "op", json={"is_paused": False})
    assert "secret_dag" not in {d["dag_id"] for d in bulk.json["dags"]}
    assert api.get("/api/v2/dags/secret_dag", "op").json["is_paused"] is True
    assert api.call("PATCH", "/api/v2/dags/secret_dag", "admin", json={"is_paused": False}).status_code == 200

    # an import error of the restricted DAG's file is hidden with it
    with api.db.transaction() as session:
        session.add(ImportError_(filename=str(folder / "secret.py"), message="boom", timestamp=datetime.now(UTC)))
    assert api.get("/api/v2/importErrors", "viewer").json["total_entries"] == 0
    assert api.get("/api/v2/importErrors", "op").json["total_entries"] == 1


def test_access_control_in_the_sdk() -> None:
    assert normalize_access_control("d", None) is None
    assert normalize_access_control("d", {"op": {"can_edit", "can_read"}}) == {"op": ["can_edit", "can_read"]}
    assert normalize_access_control("d", {"viewer": {"DAGs": {"can_read"}, "DAG Runs": {"can_delete"}}}) == {
        "viewer": ["can_delete", "can_read"]
    }
    assert normalize_access_control("d", {"op": ["can_dag_read"]}) == {"op": ["can_read"]}
    with pytest.raises(DagDefinitionError, match="unknown access_control action 'can_fly'"):
        normalize_access_control("d", {"op": {"can_fly"}})
    with pytest.raises(DagDefinitionError):
        normalize_access_control("d", {"op": "can_read"})


@SQLITE
def test_map_index_as_a_query_parameter_on_unmapped_paths(api: Api) -> None:
    deps = api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/dependencies?map_index=-1").json["dependencies"]
    assert "Trigger Rule" in {d["name"] for d in deps}
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/dependencies?map_index=3").status_code == 404
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/b/dependencies?map_index=-2").status_code == 422
    dry = api.call("PATCH", f"{TI_A}/dry_run?map_index=-1", json={"new_state": "skipped"})
    assert [t["task_id"] for t in dry.json["task_instances"]] == ["a"]
    assert api.call("PATCH", f"{TI_A}?map_index=5", json={"new_state": "skipped"}).status_code == 404
