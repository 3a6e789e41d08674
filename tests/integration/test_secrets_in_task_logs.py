"""Through the scheduler and the LocalExecutor (warm forked workers), on SQLite and PostgreSQL:
a DAG that prints, logs, echoes and renders every kind of secret leaves only ``***`` in its logs."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.executors.local import LocalExecutor
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.dagruns import create_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.services.connections import add_connection, connection_from_uri
from dagflow.services.variables import set_variable
from dagflow.state import DagRunState, DagRunType

PASSWORD = "pw-canary-2b77d0"
TOKEN = "tok-canary-91ac3e"
VARIABLE = "var-canary-5f0b64"
SECRET_KEY = "webkey-canary-c4e19a"

DAG_FILE = """
import logging, os, subprocess, sys
from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator

def leak(**context):
    conn = context["conn"].warehouse
    print("password", conn.password)
    logging.getLogger("leak").info("token %s", conn.extra_dejson["token"])
    print("variable", context["var"]["json"].service_token["value"])
    print("conf", context["conf"].webserver.secret_key)
    subprocess.run([sys.executable, "-m", "dagflow", "connections", "get", "warehouse", "--show-password"])

with DAG("canary", schedule=None):
    PythonOperator(task_id="leak", python_callable=leak) >> BashOperator(
        task_id="echo",
        bash_command="echo {{ conn.warehouse.password }} {{ conn.warehouse.extra_dejson.token }} "
        "{{ var.json.service_token.value }} {{ conf.webserver.secret_key }}",
    )
"""


@pytest.mark.slow
def test_task_logs_hold_no_secret_under_the_scheduler(
    db_any: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = db_any.settings.replace(webserver={"secret_key": SECRET_KEY}, core={"parallelism": 2})
    monkeypatch.setenv("DAGFLOW_HOME", str(settings.home))
    monkeypatch.setenv("DAGFLOW__DATABASE__SQL_ALCHEMY_CONN", settings.database.sql_alchemy_conn)
    uri = f"postgres://alice:{PASSWORD}@db.example.com/sales?token={TOKEN}"
    add_connection(db_any, connection_from_uri("warehouse", uri))
    set_variable(db_any, "service_token", {"value": VARIABLE}, serialize_json=True)
    dags = settings.core.dags_folder  # workers load DAG files from the configured folders only
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "canary.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db_any, [dags], paused_at_creation=False)
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db_any, executor)
    try:
        now = pendulum.now("UTC")
        with db_any.transaction() as session:
            entry = scheduler.store.get(session, "canary")
            assert entry is not None
            create_dagrun(
                session,
                dag=entry.dag,
                run_id="r1",
                run_type=DagRunType.MANUAL,
                logical_date=now,
                data_interval=(now, now),
                now=now,
            )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not scheduler.tick().runs_finished:
            time.sleep(0.05)
    finally:
        executor.shutdown()
    with db_any.transaction() as session:
        assert session.scalars(sa.select(DagRun.state)).one() == DagRunState.SUCCESS
        assert len(session.scalars(sa.select(TaskInstance.id)).all()) == 2
    logs = {p.parent.name: p.read_text() for p in settings.logging.base_log_folder.rglob("*.log")}
    assert set(logs) == {"task_id=leak", "task_id=echo"}
    for name, text in logs.items():
        for canary in (PASSWORD, TOKEN, VARIABLE, SECRET_KEY):
            assert canary not in text, f"{canary} leaked into {name}"
    assert "password ***" in logs["task_id=leak"] and "token ***" in logs["task_id=leak"]
    assert "variable ***" in logs["task_id=leak"] and "conf ***" in logs["task_id=leak"]
    assert "alice:***@db.example.com" in logs["task_id=leak"]
    assert "*** *** *** ***" in logs["task_id=echo"]
