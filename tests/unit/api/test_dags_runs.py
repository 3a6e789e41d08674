"""``/dags``, ``/dagRuns``, ``/taskInstances``, logs and import errors through the Flask test client on a real DB."""

from __future__ import annotations

import sqlalchemy as sa

from dagflow.execution.logs import log_path
from dagflow.models import DagRun
from tests.unit.api.conftest import RUN_ID, Api

RUNS = "/api/v2/dags/api_dag/dagRuns"


def _run_count(api: Api) -> int:
    with api.db.transaction() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(DagRun)) or 0)


def test_list_dags_with_airflow_filters_and_paging(api: Api) -> None:
    body = api.get("/api/v2/dags").json
    assert body["total_entries"] == 2 and [d["dag_id"] for d in body["dags"]] == ["api_dag", "api_other"]
    dag = body["dags"][0]
    assert dag["tags"] == [
        {"name": "api", "dag_id": "api_dag", "dag_display_name": "api_dag"},
        {"name": "daily", "dag_id": "api_dag", "dag_display_name": "api_dag"},
    ]
    assert dag["is_paused"] is True and dag["timetable_summary"] == "@daily" and dag["is_backfillable"] is True

    assert [d["dag_id"] for d in api.get("/api/v2/dags?tags=daily").json["dags"]] == ["api_dag"]
    assert api.get("/api/v2/dags?tags=daily&tags=api&tags_match_mode=all").json["total_entries"] == 1
    assert [d["dag_id"] for d in api.get("/api/v2/dags?dag_id_pattern=oth").json["dags"]] == ["api_other"]
    assert api.get("/api/v2/dags?paused=false").json["total_entries"] == 0
    page = api.get("/api/v2/dags?limit=1&offset=1&order_by=-dag_id").json
    assert page["total_entries"] == 2 and [d["dag_id"] for d in page["dags"]] == ["api_dag"]
    bad = api.get("/api/v2/dags?order_by=password")
    assert bad.status_code == 422 and "ordering with 'password'" in bad.json["detail"]


def test_dag_details_patch_and_unknown_dag(api: Api) -> None:
    details = api.get("/api/v2/dags/api_dag/details").json
    assert details["params"]["n"]["default"] == 1 and details["catchup"] is False
    assert details["description"] == "the API's test DAG"

    patched = api.call("PATCH", "/api/v2/dags/api_dag", json={"is_paused": False})
    assert patched.status_code == 200 and patched.json["is_paused"] is False
    assert api.get("/api/v2/dags?paused=false").json["total_entries"] == 1

    missing = api.get("/api/v2/dags/nope")
    assert missing.status_code == 404
    assert missing.json == {"detail": "DAG 'nope' not found", "status": 404, "title": "Not Found"}
    assert api.get("/api/v2/dags/bad%20id").status_code == 422
    assert api.call("PATCH", "/api/v2/dags/api_dag", json={"is_paused": False, "owner": "x"}).status_code == 422


def test_trigger_with_conf_and_read_the_run(api: Api) -> None:
    response = api.call(
        "POST", RUNS, json={"dag_run_id": "by_api", "logical_date": "2024-03-01T00:00:00Z", "conf": {"n": 5}}
    )

    assert response.status_code == 200, response.json
    run = response.json
    assert (run["dag_run_id"], run["state"], run["run_type"], run["conf"]) == ("by_api", "queued", "manual", {"n": 5})
    assert run["triggered_by"] == "rest_api"
    assert run["logical_date"].startswith("2024-03-01T00:00:00")
    assert api.get(f"{RUNS}/by_api").json["conf"] == {"n": 5}
    listed = api.get(f"{RUNS}?order_by=-logical_date").json
    assert [r["dag_run_id"] for r in listed["dag_runs"]] == ["by_api", RUN_ID]
    assert api.get("/api/v2/dags/~/dagRuns?state=queued").json["total_entries"] == 2
    assert api.get(f"{RUNS}?logical_date_gte=2024-02-15T00:00:00Z").json["total_entries"] == 1
    again = api.call("POST", RUNS, json={"dag_run_id": "by_api", "conf": {}})
    assert again.status_code == 409


def test_bad_trigger_input_is_4xx_and_writes_nothing(api: Api) -> None:
    before = _run_count(api)
    cases = [
        ({"conf": {"n": "five"}}, 422, "'n'"),
        ({"conf": [1, 2]}, 422, None),
        ({"dag_run_id": "../../etc"}, 422, "invalid run_id"),
        ({"dag_run_id": "x" * 251}, 422, "invalid run_id"),
        ({"conf": {"n": 1, "blob": "x" * 70000}}, 422, "api.max_conf_bytes"),
        ({"logical_date": "yesterday"}, 422, None),
        ({"unknown_field": 1}, 422, None),
    ]
    for body, status, text in cases:
        response = api.call("POST", RUNS, json=body)
        assert response.status_code == status, (body, response.json)
        if text:
            assert text in str(response.json["detail"]), response.json
    assert api.call("POST", "/api/v2/dags/nope/dagRuns", json={}).status_code == 404
    assert _run_count(api) == before


def test_patch_run_state_and_note_then_delete(api: Api) -> None:
    note = api.call("PATCH", f"{RUNS}/{RUN_ID}", json={"note": "looked at it"})
    assert note.status_code == 200 and note.json["note"] == "looked at it"

    failed = api.call("PATCH", f"{RUNS}/{RUN_ID}", json={"state": "failed"})
    assert failed.status_code == 200 and failed.json["state"] == "failed"
    assert api.call("PATCH", f"{RUNS}/{RUN_ID}", json={"state": "running"}).status_code == 422

    assert api.call("DELETE", f"{RUNS}/{RUN_ID}").status_code == 204
    assert api.get(f"{RUNS}/{RUN_ID}").status_code == 404


def test_task_instances_per_run_across_runs_and_one(api: Api) -> None:
    listed = api.get(f"{RUNS}/{RUN_ID}/taskInstances").json
    assert [(t["task_id"], t["state"], t["map_index"]) for t in listed["task_instances"]] == [
        ("a", None, -1),
        ("b", None, -1),
    ]
    ti = listed["task_instances"][0]
    assert ti["max_tries"] == 2 and ti["pool"] == "default_pool" and ti["dag_run_id"] == RUN_ID
    across = api.get("/api/v2/dags/~/dagRuns/~/taskInstances?task_id=b").json
    assert across["total_entries"] == 1
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/a").json["task_id"] == "a"
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/a/-1").json["map_index"] == -1
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/zz").status_code == 404
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/a/tries").json == {"task_instances": [], "total_entries": 0}
    assert api.get(f"{RUNS}/nope/taskInstances").status_code == 404


def test_mark_and_clear_task_instances(api: Api) -> None:
    marked = api.call("PATCH", f"{RUNS}/{RUN_ID}/taskInstances/a", json={"new_state": "failed"})
    assert marked.status_code == 200 and [t["state"] for t in marked.json["task_instances"]] == ["failed"]

    dry = api.call("POST", "/api/v2/dags/api_dag/clearTaskInstances", json={"dry_run": True, "only_failed": True})
    assert dry.status_code == 200 and [t["task_id"] for t in dry.json["task_instances"]] == ["a"]
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/a").json["state"] == "failed"

    done = api.call(
        "POST",
        "/api/v2/dags/api_dag/clearTaskInstances",
        json={"dry_run": False, "task_ids": ["a"], "only_failed": True},
    )
    assert done.status_code == 200 and done.json["total_entries"] == 1
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/a").json["state"] is None
    run_clear = api.call("POST", f"{RUNS}/{RUN_ID}/clear", json={"dry_run": True})
    assert run_clear.status_code == 200


def test_log_as_json_text_and_tail_token(api: Api) -> None:
    with api.db.transaction() as session:
        session.execute(sa.text("UPDATE task_instance SET try_number = 1, state = 'running' WHERE task_id = 'a'"))
    path = log_path(
        api.db.settings.logging.base_log_folder,
        dag_id="api_dag",
        run_id=RUN_ID,
        task_id="a",
        map_index=-1,
        try_number=1,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("first line\nsecond line\n")
    url = f"{RUNS}/{RUN_ID}/taskInstances/a/logs/1"

    body = api.get(url).json
    assert [m["event"] for m in body["content"]] == ["first line", "second line"]
    token = body["continuation_token"]
    assert token  # still running: more may come
    with path.open("a") as handle:
        handle.write("third line\n")
    tail = api.get(url, query_string={"token": token}).json
    assert [m["event"] for m in tail["content"]] == ["third line"]
    text = api.client.get(url, headers={**api.headers["admin"], "Accept": "text/plain"})
    assert text.mimetype == "text/plain" and "second line" in text.get_data(as_text=True)
    assert api.get(url, query_string={"token": "forged"}).status_code == 422
    assert api.get(f"{RUNS}/{RUN_ID}/taskInstances/a/logs/2").status_code == 404


def test_health_and_version_are_public(api: Api) -> None:
    health = api.call("GET", "/api/v2/monitor/health", None).json
    assert health["metadatabase"] == {"status": "healthy"}
    assert set(health) == {"metadatabase", "scheduler", "triggerer", "dag_processor"}
    assert api.call("GET", "/api/v2/version", None).json["version"]
    assert api.get("/api/v2/importErrors").json == {"import_errors": [], "total_entries": 0}
    assert api.get("/api/v2/importErrors/1").status_code == 404
