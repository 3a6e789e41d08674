"""``variables|pools|connections import|export`` (Airflow's JSON files) and ``db clean`` through ``main()``."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pendulum
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.execution.logs import log_path
from dagflow.models import DagRun, EventLog, Job, TaskInstance, TaskInstanceHistory, XCom
from dagflow.models.asset import AssetEvent, AssetModel, DagRunAssetEvent
from dagflow.models.transitions import set_dagrun_state
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.serialization import deserialize_dag, serialize_dag
from dagflow.state import DagRunState, DagRunType
from dagflow.testing import make_dag
from tests.unit.cli.conftest import CliResult

Run = Callable[..., CliResult]


def test_variables_round_trip(run_cli: Run, cli_db: Database, tmp_path: Path) -> None:
    run_cli("variables", "set", "plain", "hello")
    run_cli("variables", "set", "--json", "structured", '{"a": [1, 2]}')
    run_cli("variables", "set", "described", "x", "--description", "what it is")
    out = tmp_path / "vars.json"
    assert run_cli("variables", "export", str(out)).stdout.strip() == f"3 variables successfully exported to {out}"
    assert stat.S_IMODE(out.stat().st_mode) == 0o600  # values are secrets
    assert json.loads(out.read_text()) == {
        "described": {"value": "x", "description": "what it is"},
        "plain": "hello",
        "structured": {"a": [1, 2]},
    }

    document = {"plain": "changed", "n": 5, "obj": {"k": True}, "d": {"value": "v", "description": "dd"}}
    skipped = run_cli("variables", "import", "-", "--action-on-existing-key", "skip", input=json.dumps(document))
    assert skipped.stdout.splitlines() == [
        "3 of 4 variables successfully updated.",
        "Skipped (they exist already): plain",
    ]
    assert run_cli("variables", "get", "plain").stdout.strip() == "hello"
    assert run_cli("variables", "get", "--json", "obj").json() == {"k": True}
    assert run_cli("variables", "get", "n").stdout.strip() == "5"
    failed = run_cli("variables", "import", "-", "-a", "fail", input=json.dumps({"plain": 1}))
    assert failed.exit_code == 1 and "exist already: plain" in failed.stderr
    run_cli("variables", "import", "-", input=json.dumps({"plain": "over"}))
    assert run_cli("variables", "get", "plain").stdout.strip() == "over"
    with cli_db.transaction(readonly=True) as session:  # audited: keys only, and the refused import not at all
        imports = session.scalars(sa.select(EventLog).where(EventLog.event == "import_variables").order_by(EventLog.id))
        assert [e.extra for e in imports] == [
            {"written": ["d", "n", "obj"], "skipped": ["plain"]},
            {"written": ["plain"], "skipped": []},
        ]


def test_pools_round_trip_and_bad_files(run_cli: Run, cli_db: Database, tmp_path: Path) -> None:
    document = {"etl": {"slots": 4, "description": "ETL", "include_deferred": True}, "big": {"slots": -1}}
    assert run_cli("pools", "import", "-", input=json.dumps(document)).stdout.strip() == "Uploaded 2 pool(s)"
    exported = run_cli("pools", "export", "-")
    assert json.loads(exported.stdout)["etl"] == document["etl"]
    assert json.loads(exported.stdout)["big"] == {"slots": -1, "description": None, "include_deferred": False}

    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{oops")
    result = run_cli("pools", "import", str(bad_json))
    assert result.exit_code == 2 and "is not valid JSON" in result.stderr and "Traceback" not in result.stderr
    bad_slots = run_cli("pools", "import", "-", input=json.dumps({"ok": {"slots": 1}, "bad": {"slots": "x"}}))
    assert bad_slots.exit_code == 2 and "pool 'bad': slots must be" in bad_slots.stderr
    assert "ok" not in json.loads(run_cli("pools", "export", "-").stdout)  # nothing written
    assert run_cli("pools", "import", str(tmp_path / "missing.json")).exit_code == 2


def test_connections_round_trip(run_cli: Run, cli_db: Database, tmp_path: Path) -> None:
    run_cli("connections", "add", "pg", "--conn-uri", "postgres://u:pw@db.example:5432/app?sslmode=require")
    out = tmp_path / "conns.json"
    run_cli("connections", "export", str(out))
    exported = json.loads(out.read_text())
    assert exported["pg"] == {
        "conn_type": "postgres",
        "description": None,
        "host": "db.example",
        "login": "u",
        "password": "pw",
        "schema": "app",
        "port": 5432,
        "extra": '{"sslmode": "require"}',
    }

    run_cli("connections", "delete", "pg")
    document = {**exported, "hook": "https://:token@hooks.example", "api": {"conn_type": "http", "extra": {"a": 1}}}
    imported = run_cli("connections", "import", "-", input=json.dumps(document))
    assert imported.stdout.splitlines() == [
        "Imported connection pg",
        "Imported connection hook",
        "Imported connection api",
    ]
    shown = run_cli("connections", "get", "pg", "--show-password", "--output", "json").json()
    assert shown["password"] == "pw" and shown["extra"] == {"sslmode": "require"}
    again = run_cli("connections", "import", "-", input=json.dumps({"pg": "http://other"}))
    assert "Could not import connection pg: connection already exists." in again.stderr
    run_cli("connections", "import", "-", "--overwrite", input=json.dumps({"pg": "http://other"}))
    assert run_cli("connections", "get", "pg", "--output", "json").json()["host"] == "other"


def _run(session: sa.orm.Session, dag_id: str, day: int, run_type: DagRunType, state: DagRunState) -> DagRun:
    sdag = deserialize_dag(serialize_dag(make_dag(dag_id, [("a", "b")])))
    when = pendulum.datetime(2024, 1, day, tz="UTC")
    run = create_dagrun(
        session,
        dag=sdag,
        run_id=f"{run_type.value}__{day}",
        run_type=run_type,
        logical_date=when,
        data_interval=(when, when),
        now=when,
    )
    set_dagrun_state(
        session, run.id, to=DagRunState.RUNNING, expected=[DagRunState.QUEUED], values={"start_date": when}
    )
    if state != DagRunState.RUNNING:
        end = {"end_date": when + timedelta(hours=1)}
        set_dagrun_state(session, run.id, to=state, expected=[DagRunState.RUNNING], values=end)
    return run


def test_db_clean_purges_old_runs_in_batches(run_cli: Run, cli_db: Database, cli_settings: Settings) -> None:
    with cli_db.transaction() as session:
        old = [_run(session, "d", day, DagRunType.MANUAL, DagRunState.SUCCESS) for day in (1, 2, 3)]
        _run(session, "d", 4, DagRunType.SCHEDULED, DagRunState.FAILED)  # old, but d's newest scheduled run
        _run(session, "d", 5, DagRunType.MANUAL, DagRunState.RUNNING)  # not finished
        _run(session, "d", 25, DagRunType.MANUAL, DagRunState.SUCCESS)  # newer than the cut-off
        ti = session.scalars(sa.select(TaskInstance).where(TaskInstance.run_id == old[0].run_id)).first()
        assert ti is not None
        session.add(
            TaskInstanceHistory(ti_id=ti.id, dag_id="d", run_id=ti.run_id, task_id="a", map_index=-1, try_number=1)
        )
        session.add(XCom(dag_id="d", run_id=old[1].run_id, task_id="a", map_index=-1, key="return_value", value="1"))
        gone = pendulum.datetime(2024, 1, 2, tz="UTC")
        session.add(Job(job_type="scheduler", state="success", start_date=gone, latest_heartbeat=gone))
        asset = AssetModel(uri="s3://b/orders", name="s3://b/orders", group="asset", extra={})
        session.add(asset)
        session.flush()
        events = [
            AssetEvent(
                asset_id=asset.id,
                extra={},
                source_dag_id="d",
                source_task_id="a",
                source_run_id=run_id,
                source_map_index=-1,
                timestamp=gone,
            )
            for run_id in (old[0].run_id, old[1].run_id)
        ]
        session.add_all(events)
        session.flush()
        kept = session.scalars(sa.select(DagRun).where(DagRun.run_id == "manual__25")).one()
        session.add(DagRunAssetEvent(dag_run_id=old[2].id, event_id=events[0].id))  # consumed by an old run
        session.add(DagRunAssetEvent(dag_run_id=kept.id, event_id=events[1].id))  # consumed by a kept run
        # audit events go by their own time, not with the runs they name
        session.add(EventLog(when=gone, event="trigger", dag_id="d", run_id="manual__25"))
        session.add(EventLog(when=gone.add(days=30), event="clear", dag_id="d", run_id=old[0].run_id))
    logs = log_path(cli_settings.logging.base_log_folder, dag_id="d", run_id=old[0].run_id, task_id="a", try_number=1)
    logs.parent.mkdir(parents=True)
    logs.write_text("old log\n")

    args = ("db", "clean", "--clean-before-timestamp", "2024-01-20")
    refused = run_cli(*args)
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    dry = run_cli(*args, "--dry-run")
    expected = (
        "asset_event 1, dag_run 3, dagrun_asset_event 1, event_log 1, job 1, log 1, task_instance 6, "
        "task_instance_history 1, xcom 1"
    )
    assert dry.stdout.strip() == f"Would delete (older than 2024-01-20T00:00:00+00:00): {expected}"
    assert logs.exists()

    done = run_cli(*args, "--yes", "--batch-size", "2", "--verbose")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.strip() == f"Deleted (older than 2024-01-20T00:00:00+00:00): {expected}"
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == ["batch 1", "batch 2"]
    assert not logs.parent.parent.exists()
    with cli_db.transaction(readonly=True) as session:
        left = sorted(session.scalars(sa.select(DagRun.run_id)))
        assert left == ["manual__25", "manual__5", "scheduled__4"]
        assert session.scalar(sa.select(sa.func.count()).select_from(TaskInstance)) == 6
        assert session.scalar(sa.select(sa.func.count()).select_from(XCom)) == 0
        assert list(session.scalars(sa.select(AssetEvent.source_run_id))) == [old[1].run_id]  # a kept run's input
        assert session.scalar(sa.select(sa.func.count()).select_from(DagRunAssetEvent)) == 1
        assert list(session.scalars(sa.select(EventLog.event))) == ["clear"]

    only_jobs = run_cli("db", "clean", "--clean-before-timestamp", "2030-01-01", "--tables", "job", "--yes")
    assert only_jobs.stdout.strip().endswith("nothing")
    bad = run_cli("db", "clean", "--clean-before-timestamp", "2030-01-01", "--tables", "nope", "--yes")
    assert bad.exit_code == 2 and "cannot clean table(s) nope" in bad.stderr


def test_expired_state_store_keys_are_invisible_then_purged(run_cli: Run, cli_db: Database) -> None:
    from dagflow.models import StateStoreEntry
    from dagflow.storage.state_store import StateStore

    store, now = StateStore(cli_db), pendulum.now("UTC")
    store.set("gone", 1, expires_at=now.subtract(hours=2))
    store.set("gone", 2, namespace="team", expires_at=now.subtract(hours=1))
    store.set("gone_later", 3, expires_at=now.add(hours=1))
    store.set("kept", 4)
    assert store.get("gone") is None and store.get("gone", namespace="team") is None  # expired: already invisible
    assert store.get_versioned("gone") == (None, 0)
    assert [e["key"] for e in run_cli("state-store", "list", "-o", "json").json()] == ["gone_later", "kept"]
    assert run_cli("state-store", "get", "gone").exit_code == 1

    dry = run_cli("state-store", "purge-expired", "--dry-run")
    assert dry.exit_code == 0 and dry.stdout.strip() == "Would purge 2 expired key(s)."
    team = run_cli("state-store", "purge-expired", "-n", "team")
    assert team.stdout.strip() == "Purged 1 expired key(s) in namespace 'team'."
    only = ("db", "clean", "--clean-before-timestamp", "2099-01-01", "--tables", "state_store")
    assert run_cli(*only, "--dry-run").stdout.strip().endswith(": state_store 1")  # a future cut-off is now
    assert run_cli(*only, "--yes").exit_code == 0
    with cli_db.transaction(readonly=True) as session:
        left = sorted(session.scalars(sa.select(StateStoreEntry.key)))
    assert left == ["gone_later", "kept"]  # not expired yet, and no ttl: never cleaned
    assert run_cli("state-store", "purge-expired").stdout.strip() == "Purged 0 expired key(s)."
