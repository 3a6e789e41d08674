"""Web UI fixtures: one app per test module on a migrated SQLite copy, with DAGs, runs and a client per role.

``ui`` holds the DAGs of ``DAG_FILE`` as the DAG processor stores them (and an import error
of ``broken.py``), users ``admin``,
``op`` and ``viewer`` (password ``PASSWORD``) and a logged-in test client for each
(session cookie, CSRF token read from the login page, as a browser does). ``ran_ui_dag(ui)``
runs ``ui_dag`` once through the in-process scheduler (``a``, ``grp.b`` and ``say`` succeed,
``grp.c`` fails, ``double`` maps over three values) and keeps its run id in ``ui.run_id``.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pendulum
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from dagflow.config import Settings, load_settings
from dagflow.dag_processing.loader import load_file
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.services import users
from dagflow.services.variables import set_variable
from dagflow.testing import run_dag
from dagflow.webapp import create_app

DAG_FILE = """
from datetime import datetime

from dagflow import DAG, Asset, Param, task
from dagflow.operators import ApprovalOperator, BashOperator, EmptyOperator, PythonOperator
from dagflow.sdk import TaskGroup


def boom():
    print("about to fail")
    raise RuntimeError("boom <script>alert(1)</script>")


@task
def double(x):
    return {"doubled": x * 2, "password": "hunter2"}


with DAG("ui_dag", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["ui", "daily"],
         params={"n": Param(1, type="integer", minimum=0), "mode": Param("fast", enum=["fast", "slow"])},
         description="the UI's test DAG", default_args={"owner": "team-ui"}):
    a = EmptyOperator(task_id="a")
    with TaskGroup("grp"):
        b = EmptyOperator(task_id="b")
        c = PythonOperator(task_id="c", python_callable=boom)
        b >> c
    a >> b
    a >> double.expand(x=[1, 2, 3])
    a >> BashOperator(task_id="say", bash_command="echo mode={{ params.mode }} key={{ var.value.api_key }} <i>")

ORDERS = Asset("s3://bucket/orders.parquet")


@task(max_active_tis_per_dagrun=2)
def each(x):
    return x

with DAG("ui_flow", schedule=None, start_date=datetime(2024, 1, 1), tags=["flow"]):
    first = EmptyOperator(task_id="first", description="the first task", log_level="DEBUG", outlets=[ORDERS])
    with TaskGroup("flow", max_active_tasks=1, sequential=True):
        PythonOperator(task_id="soft", python_callable=boom, allow_failure=True)
        EmptyOperator(task_id="off", disabled=True)
    first >> each.expand(x=[1, 2, 3])

with DAG("ui_consumer", schedule=[ORDERS], start_date=datetime(2024, 1, 1), tags=["flow"]):
    EmptyOperator(task_id="load")

with DAG("ui_other", schedule=None, start_date=datetime(2024, 1, 1), tags=["other"]):
    ApprovalOperator(task_id="wait", message="ship it?")
"""

ROLES = ("admin", "op", "viewer")
PASSWORD = "correct-horse-battery"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(response: TestResponse) -> str:
    """The CSRF token in a rendered page."""
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, "the page carries no CSRF token"
    return match.group(1)


@dataclass
class Ui:
    """The app, its database and a logged-in client per role (``anon`` is logged out)."""

    app: Flask
    db: Database
    settings: Settings
    run_id: str = ""
    clients: dict[str, FlaskClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, role: str = "admin", **kwargs: Any) -> TestResponse:
        """GET as ``role`` (``anon``: nobody)."""
        return self.clients[role].get(path, **kwargs)

    def post(self, path: str, role: str = "admin", data: dict[str, Any] | None = None, **kwargs: Any) -> TestResponse:
        """POST a form as ``role`` with that role's CSRF token."""
        form = {"csrf_token": self.tokens.get(role, ""), **(data or {})}
        return self.clients[role].post(path, data=form, **kwargs)


def log_in(client: FlaskClient, username: str, password: str = PASSWORD) -> str:
    """Log ``client`` in through the form; the session's CSRF token."""
    token = csrf_token(client.get("/login"))
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)
    return csrf_token(client.get("/"))


@pytest.fixture(scope="module")
def ui_home(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Settings:
    """A ``DAGFLOW_HOME`` with a migrated SQLite database and ``DAG_FILE`` stored as the DAG processor does."""
    home = tmp_path_factory.mktemp("ui_home")
    shutil.copyfile(_sqlite_template, home / "dagflow.db")
    settings = load_settings({"DAGFLOW_HOME": str(home), "DAGFLOW__API__LOGIN_RATE_LIMIT": "1000 per minute"})
    folder = settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ui_dags.py").write_text(textwrap.dedent(DAG_FILE))
    (folder / "broken.py").write_text("from dagflow import DAG\n\nraise ValueError('<script>alert(1)</script>')\n")
    return settings


@pytest.fixture(scope="module")
def ui(ui_home: Settings) -> Iterator[Ui]:
    """The app on ``ui_home`` with a logged-in client per role."""
    db = Database(ui_home)
    sync_folders(db, [ui_home.core.dags_folder], paused_at_creation=True)
    app = create_app(ui_home, db=db)
    app.config.update(TESTING=True)
    env = Ui(app, db, ui_home)
    for role in ROLES:
        users.create_user(db, role, PASSWORD, role)
        env.clients[role] = app.test_client()
        env.tokens[role] = log_in(env.clients[role], role)
    env.clients["anon"] = app.test_client()
    yield env
    db.dispose()


def run_ui_dag(ui: Ui, dag_id: str, logical_date: pendulum.DateTime) -> str:
    """Run ``dag_id`` of ``DAG_FILE`` once through the in-process scheduler; its run id."""
    dags = {dag.dag_id: dag for dag in load_file(ui.settings.core.dags_folder / "ui_dags.py").dags}
    return run_dag(dags[dag_id], settings=ui.settings, db=ui.db, logical_date=logical_date).run_id


def ran_ui_dag(ui: Ui) -> Ui:
    """Run ``ui_dag`` once (a secret variable ``api_key`` set first); ``ui`` with ``run_id`` set."""
    set_variable(ui.db, "api_key", "s3cr3t-value-42")
    dags = {dag.dag_id: dag for dag in load_file(ui.settings.core.dags_folder / "ui_dags.py").dags}
    report = run_dag(dags["ui_dag"], settings=ui.settings, db=ui.db, logical_date=pendulum.datetime(2024, 3, 1))
    ui.run_id = report.run_id
    return ui
