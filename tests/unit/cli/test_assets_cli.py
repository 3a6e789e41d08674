"""``dagflow assets list|events|create-event|materialize`` on a DAG folder with a producer and a consumer."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from tests.unit.cli.conftest import CliResult

ASSET_DAGS = """
from datetime import datetime
from dagflow import DAG, Asset
from dagflow.operators import EmptyOperator

report = Asset("file:///data/report.csv")
with DAG("make_report", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="build", outlets=[report])
with DAG("send_report", schedule=[report], start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="send")
"""


def test_assets_commands(run_cli: Callable[..., CliResult], cli_db: Database, cli_env: dict[str, str]) -> None:
    dags = Path(cli_env["DAGFLOW_HOME"]) / "dags"
    (dags / "asset_dags.py").write_text(textwrap.dedent(ASSET_DAGS))
    sync_folders(cli_db, [dags], paused_at_creation=False)

    listed = run_cli("assets", "list", "--output", "json")
    assert listed.exit_code == 0, listed.stderr
    (asset,) = listed.json()
    assert asset["uri"] == "file:///data/report.csv"
    assert asset["consuming_dags"] == ["send_report"]
    assert asset["producing_tasks"] == ["make_report.build"]
    assert asset["event_count"] == 0

    created = run_cli("assets", "create-event", "file:///data/report.csv", "--extra", '{"by": "hand"}', "-o", "json")
    assert created.exit_code == 0, created.stderr
    assert created.json()["extra"] == {"by": "hand"} and created.json()["source_dag_id"] is None

    events = run_cli("assets", "events", "--uri", "file:///data/report.csv", "--output", "json")
    assert [e["extra"] for e in events.json()] == [{"by": "hand"}]
    assert run_cli("assets", "list", "-o", "json").json()[0]["queued_for"] == ["send_report"]

    table = run_cli("assets", "list")
    assert "file:///data/report.csv" in table.stdout and "make_report.build" in table.stdout

    materialized = run_cli("assets", "materialize", "file:///data/report.csv", "-o", "json")
    assert materialized.exit_code == 0, materialized.stderr
    assert materialized.json()["dag_id"] == "make_report"

    unknown = run_cli("assets", "events", "--uri", "s3://nope")
    assert unknown.exit_code == 1 and unknown.stderr.strip() == "Error: asset 's3://nope' does not exist"
    bad = run_cli("assets", "create-event", "file:///data/report.csv", "--extra", "[1]")
    assert bad.exit_code == 2 and "Traceback" not in bad.stderr


def test_deleting_a_dag_drops_its_asset_references(
    run_cli: Callable[..., CliResult], cli_db: Database, cli_env: dict[str, str]
) -> None:
    dags = Path(cli_env["DAGFLOW_HOME"]) / "dags"
    (dags / "asset_dags.py").write_text(textwrap.dedent(ASSET_DAGS))
    sync_folders(cli_db, [dags], paused_at_creation=False)
    assert run_cli("assets", "create-event", "file:///data/report.csv").exit_code == 0
    assert run_cli("dags", "delete", "send_report", "--yes").exit_code == 0
    (asset,) = run_cli("assets", "list", "-o", "json").json()
    assert (asset["consuming_dags"], asset["queued_for"], asset["event_count"]) == ([], [], 1)
