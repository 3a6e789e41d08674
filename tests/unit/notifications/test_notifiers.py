"""Notifiers as callbacks, through the real task runner (``run_dag``) against servers on 127.0.0.1.

A webhook notifier posts a Slack-compatible body, an SMTP notifier sends an email, both
usable as task and DAG callbacks, alone or in a list; their template fields are rendered
with the callback's context. A notifier that cannot reach its server is logged and
changes no state.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import pendulum
import pytest

from dagflow import DAG
from dagflow.db import Database
from dagflow.exceptions import FailTask
from dagflow.notifications import BaseNotifier, SmtpNotifier, WebhookNotifier
from dagflow.operators import EmptyOperator, PythonOperator
from dagflow.testing import FrozenClock, run_dag
from tests.unit.notifications.conftest import Server

START = pendulum.datetime(2024, 1, 1, tz="UTC")
WHEN = pendulum.datetime(2024, 3, 5, tz="UTC")


def _fail() -> None:
    raise FailTask("disk full")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_webhook_and_email_on_failure_and_success(db: Database, webhook_server: Server, smtp_server: Server) -> None:
    hook = WebhookNotifier(webhook_server.url, channel="#alerts", username="dagflow")
    mail = SmtpNotifier(
        to=["ops@example.com", "dev@example.com"],
        from_email="dagflow@example.com",
        subject="{{ ti.task_id }} failed on {{ ds }}",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
    )
    templated = WebhookNotifier(webhook_server.url, text="{{ dag.dag_id }}/{{ ti.task_id }} ok at {{ ds }}")
    with DAG("notify", schedule="@daily", start_date=START, on_failure_callback=hook) as dag:
        broken = PythonOperator(task_id="broken", python_callable=_fail, on_failure_callback=[hook, mail])
        fine = EmptyOperator(task_id="fine", on_success_callback=templated)
        fine >> broken

    report = run_dag(dag, db=db, logical_date=WHEN, clock=FrozenClock(WHEN))

    assert report.task_states == {"fine": "success", "broken": "failed"}
    posts = webhook_server.received.wait_for(3)
    bodies = [body for _, _, body in posts]
    assert {"text": "notify/fine ok at 2024-03-05"} in bodies
    failure = next(b for b in bodies if "task broken" in b["text"])
    assert failure["channel"] == "#alerts" and failure["username"] == "dagflow"
    assert "is failed" in failure["text"] and "disk full" in failure["text"]
    dag_level = [b["text"] for b in bodies if b["text"].startswith("DAG notify: run ") and " task " not in b["text"]]
    assert len(dag_level) == 1 and "is failed" in dag_level[0]
    assert all(path == "/hooks/T0/B0" for path, _, _ in posts)
    assert all(headers["Content-Type"] == "application/json" for _, headers, _ in posts)

    [sent] = smtp_server.received.wait_for(1)
    assert sent.sender == "dagflow@example.com"
    assert sent.recipients == ["ops@example.com", "dev@example.com"]
    assert sent.message["Subject"] == "broken failed on 2024-03-05"
    assert "disk full" in sent.message.get_body(("plain",)).get_content()


class Recorder(BaseNotifier):
    """Keeps what it was asked to send (in the process that called it)."""

    template_fields = ("text",)
    sent: list[str] = []

    def __init__(self, text: str) -> None:
        self.text = text

    def notify(self, context: Mapping[str, Any]) -> None:
        Recorder.sent.append(self.text)


def test_a_failing_notifier_is_logged_and_changes_no_state(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    Recorder.sent = []
    down = WebhookNotifier(f"http://127.0.0.1:{_closed_port()}/hook", timeout=2)
    with DAG(
        "notify_down", schedule=None, start_date=START, on_success_callback=[down, Recorder("run {{ run_id }} done")]
    ) as dag:
        EmptyOperator(task_id="a", on_success_callback=[down])

    report = run_dag(dag, db=db, logical_date=WHEN, clock=FrozenClock(WHEN))

    assert report.state == "success" and report.task_states == {"a": "success"}
    assert Recorder.sent == [f"run {report.run_id} done"]  # the DAG callbacks run in this process
    assert "on_success_callback" in caplog.text and "raised (ignored)" in caplog.text


def test_a_notifier_serves_as_sla_miss_callback() -> None:
    Recorder.sent = []
    with DAG("sla", schedule=None, start_date=START) as dag:
        EmptyOperator(task_id="a")
    Recorder("{{ dag.dag_id }} missed: {{ task_list }}")(dag, "a on 2024-03-05", "", [], [])
    assert Recorder.sent == ["sla missed: a on 2024-03-05"]


def test_webhook_needs_a_target_and_an_http_url() -> None:
    with pytest.raises(ValueError, match="url= or webhook_conn_id="):
        WebhookNotifier()
    with pytest.raises(ValueError, match="must be http"):
        WebhookNotifier("file:///etc/passwd").notify({})


def test_webhook_url_from_a_connection(db: Database, webhook_server: Server) -> None:
    from dagflow.services.connections import add_connection, connection_from_fields

    fields = {"conn_type": "http", "host": webhook_server.host, "port": webhook_server.port, "schema": "hooks"}
    add_connection(db, connection_from_fields("team_hook", {**fields, "password": "T1/B1/secret"}))
    with DAG("notify_conn", schedule=None, start_date=START) as dag:
        EmptyOperator(task_id="a", on_success_callback=WebhookNotifier(webhook_conn_id="team_hook"))

    run_dag(dag, db=db, logical_date=WHEN, clock=FrozenClock(WHEN))

    [(path, _, body)] = webhook_server.received.wait_for(1)
    assert path == "/hooks/T1/B1/secret"
    assert body["text"].startswith("DAG notify_conn: run manual__2024-03-05T00:00:00+00:00 task a try 1 is success")


def test_smtp_uses_the_smtp_default_connection(db: Database, smtp_server: Server) -> None:
    from dagflow.services.connections import add_connection, connection_from_fields

    fields = {"conn_type": "smtp", "host": smtp_server.host, "port": smtp_server.port}
    add_connection(db, connection_from_fields("smtp_default", fields))
    with DAG("notify_mail", schedule=None, start_date=START) as dag:
        PythonOperator(task_id="broken", python_callable=_fail, on_failure_callback=SmtpNotifier(to="ops@example.com"))

    report = run_dag(dag, db=db, logical_date=WHEN, clock=FrozenClock(WHEN))

    assert report.task_states == {"broken": "failed"}
    [sent] = smtp_server.received.wait_for(1)
    assert sent.recipients == ["ops@example.com"]
    assert sent.message["Subject"].startswith("[dagflow] DAG notify_mail: run manual__2024-03-05")
    assert "task broken try 1 is failed (disk full)" in sent.message["Subject"]
