"""The built-in triggers run to their event (``run_inline``, as ``dags test`` runs them).

Real files, a real local HTTP server, the real metadata DB for the DAG-state triggers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pendulum
import pytest

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.execution.backend import DbRuntimeBackend
from dagflow.models import DagRun, TaskInstance
from dagflow.state import DagRunState, TaskInstanceState
from dagflow.triggerer.runner import run_inline
from dagflow.triggers import (
    DagStateTrigger,
    DateTimeTrigger,
    ExternalTaskTrigger,
    FileTrigger,
    HttpTrigger,
    TimeDeltaTrigger,
)


def _run(trigger, runtime=None, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
    classpath, kwargs = trigger.serialize()
    return run_inline(classpath, kwargs, runtime, timeout_s=timeout_s)


def test_time_triggers_fire_at_their_moment_and_serialize_as_one() -> None:
    moment = pendulum.now("UTC") + timedelta(seconds=0.2)
    started = time.monotonic()
    outcome = _run(DateTimeTrigger(moment))
    assert outcome.error is None and outcome.payload == moment.isoformat()
    assert time.monotonic() - started >= 0.15
    classpath, kwargs = TimeDeltaTrigger(timedelta(hours=1)).serialize()
    assert classpath == "dagflow.triggers.temporal.DateTimeTrigger" and "moment" in kwargs
    assert _run(TimeDeltaTrigger(timedelta(hours=1)), timeout_s=0.2).error == "Trigger timeout"


def test_file_trigger_waits_for_a_match(tmp_path: Path) -> None:
    target = tmp_path / "in" / "part-1.csv"
    threading.Timer(0.2, lambda: (target.parent.mkdir(), target.write_text("x"))).start()
    outcome = _run(FileTrigger(str(tmp_path / "in" / "*.csv"), poll_interval=0.05))
    assert outcome.payload == {"status": "success", "files": [str(target)]}


@pytest.fixture
def server() -> Iterator[str]:
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            status = 200 if len(hits) >= 3 else 503
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ready" if status == 200 else b"")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/health"
    httpd.shutdown()


def test_http_trigger_polls_until_an_ok_status(server: str) -> None:
    outcome = _run(HttpTrigger(server, poll_interval=0.05))
    assert outcome.payload == {"status": "success", "status_code": 200, "body": "ready"}
    refused = _run(HttpTrigger("http://127.0.0.1:9/nothing", poll_interval=0.05), timeout_s=0.3)
    assert refused.error == "Trigger timeout"  # a refused connection is retried, not an error


def test_dag_state_and_external_task_triggers_read_the_db(db: Database, settings: Settings) -> None:
    when = pendulum.datetime(2024, 3, 1, tz="UTC")
    with db.transaction() as session:
        session.add(DagRun(dag_id="up", run_id="r1", logical_date=when, state=DagRunState.SUCCESS))
        session.add(DagRun(dag_id="up", run_id="r2", logical_date=when.add(days=1), state=DagRunState.FAILED))
        session.flush()
        session.add(TaskInstance(dag_id="up", run_id="r1", task_id="load", state=TaskInstanceState.SUCCESS))
        session.add(TaskInstance(dag_id="up", run_id="r2", task_id="load", state=TaskInstanceState.FAILED))
    runtime = DbRuntimeBackend(db, settings, dag_id="down", run_id="x")
    assert _run(DagStateTrigger("up", ["r1"]), runtime).payload == {"status": "success", "states": {"r1": "success"}}
    assert _run(DagStateTrigger("up", ["r1", "r2"]), runtime).payload["status"] == "failed"
    found = _run(ExternalTaskTrigger("up", ["load"], when.isoformat(), failed_states=["failed"]), runtime)
    assert found.payload == {"status": "success", "states": ["success"]}
    failed = _run(ExternalTaskTrigger("up", ["load"], when.add(days=1).isoformat(), failed_states=["failed"]), runtime)
    assert failed.payload == {"status": "failed", "states": ["failed"]}
    missing = _run(ExternalTaskTrigger("up", [None], when.add(days=5).isoformat(), poll_interval=0.05), runtime, 0.3)
    assert missing.error == "Trigger timeout"  # no such run yet: keeps waiting


def test_a_trigger_that_cannot_be_built_or_raises_is_a_failure() -> None:
    assert "cannot import trigger" in (run_inline("nope.Missing", {}, None, timeout_s=1).error or "")
    assert "is not a trigger" in (run_inline("pathlib.Path", {}, None, timeout_s=1).error or "")
    raised = run_inline(
        "dagflow.triggers.external_task.DagStateTrigger", {"dag_id": "d", "run_ids": []}, None, timeout_s=1
    )
    assert raised.error is not None and "needs the triggerer's runtime" in raised.error
