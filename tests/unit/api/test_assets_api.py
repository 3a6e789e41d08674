"""``/api/v2/assets`` and ``/api/v2/assets/events`` in Airflow 3's shape; viewers read, ops record events."""

from __future__ import annotations

import textwrap

import pendulum
import sqlalchemy as sa

from dagflow.dag_processing.sync import sync_folders
from dagflow.models import DagModel
from dagflow.scheduler.asset_runs import create_asset_triggered_runs
from dagflow.scheduler.dag_store import SerializedDagStore
from tests.unit.api.conftest import Api

ASSET_DAGS = """
from datetime import datetime
from dagflow import DAG, Asset
from dagflow.operators import EmptyOperator

raw = Asset("s3://lake/raw.csv")
with DAG("api_producer", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="land", outlets=[raw])
with DAG("api_consumer", schedule=[raw], start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="use")
"""


def test_assets_and_events(api: Api) -> None:
    folder = api.db.settings.core.dags_folder
    (folder / "asset_dags.py").write_text(textwrap.dedent(ASSET_DAGS))
    sync_folders(api.db, [folder], paused_at_creation=False)

    listed = api.get("/api/v2/assets", "viewer")
    assert listed.status_code == 200, listed.json
    assert listed.json["total_entries"] == 1
    (asset,) = listed.json["assets"]
    assert asset["uri"] == "s3://lake/raw.csv" and asset["last_asset_event"] is None
    assert [d["dag_id"] for d in asset["consuming_dags"]] == ["api_consumer"]
    assert [(t["dag_id"], t["task_id"]) for t in asset["producing_tasks"]] == [("api_producer", "land")]
    assert api.get(f"/api/v2/assets/{asset['id']}", "viewer").json["uri"] == asset["uri"]
    assert api.get("/api/v2/assets/999999").status_code == 404
    assert api.get("/api/v2/assets?uri_pattern=nothing").json["total_entries"] == 0
    assert api.get("/api/v2/assets?dag_ids=api_consumer").json["total_entries"] == 1

    body = {"asset_id": asset["id"], "extra": {"rows": 7}}
    assert api.call("POST", "/api/v2/assets/events", json=body, role="viewer").status_code == 403
    created = api.call("POST", "/api/v2/assets/events", json=body, role="op")
    assert created.status_code == 200, created.json
    assert created.json["extra"] == {"rows": 7} and created.json["source_dag_id"] is None
    assert api.call("POST", "/api/v2/assets/events", json={"asset_id": 999999}).status_code == 404
    assert api.call("POST", "/api/v2/assets/events", json={"asset_id": asset["id"], "x": 1}).status_code == 422

    with api.db.transaction() as session:  # the scheduler's full pass makes the consumer's run
        session.execute(sa.update(DagModel).values(is_paused=False))
        (run,) = create_asset_triggered_runs(session, SerializedDagStore(), now=pendulum.now("UTC"))
        run_id = run.run_id
    events = api.get(f"/api/v2/assets/events?asset_id={asset['id']}", "viewer").json
    assert events["total_entries"] == 1
    (event,) = events["asset_events"]
    assert event["uri"] == "s3://lake/raw.csv" and event["asset_id"] == asset["id"]
    assert [(r["dag_id"], r["run_id"], r["state"]) for r in event["created_dagruns"]] == [
        ("api_consumer", run_id, "queued")
    ]
    assert api.get("/api/v2/assets/events?source_dag_id=api_producer").json["total_entries"] == 0
    assert api.get("/api/v2/assets/events?order_by=nope").status_code == 422
    assert api.get("/api/v2/assets").json["assets"][0]["last_asset_event"]["timestamp"] == event["timestamp"]
