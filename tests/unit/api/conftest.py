"""REST API fixtures: the app on a real migrated database, a user and a token per role, a DAG with a run.

``api_db`` is ``db_any`` (SQLite, and PostgreSQL when marked) holding the DAGs of
``DAG_FILE`` as the DAG processor stores them, and one finished run of ``api_dag``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import pendulum
import pytest
from flask import Flask
from flask.testing import FlaskClient

from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.services import users
from dagflow.services.dag_runs import trigger_dag
from dagflow.webapp import create_app

DAG_FILE = """
from datetime import datetime

from dagflow import DAG, Param
from dagflow.operators import ApprovalOperator, EmptyOperator

with DAG("api_dag", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["api", "daily"],
         params={"n": Param(1, type="integer")}, description="the API's test DAG"):
    a = EmptyOperator(task_id="a", retries=2)
    b = EmptyOperator(task_id="b")
    a >> b

with DAG("api_other", schedule=None, start_date=datetime(2024, 1, 1), tags=["api"]):
    wait = ApprovalOperator(task_id="wait", message="ship it?")
"""

ROLES = ("admin", "op", "viewer")
PASSWORD = "correct-horse-battery"
RUN_ID = "manual__2024-02-01T00:00:00+00:00"


@dataclass(frozen=True)
class Api:
    """The app, its test client and a bearer header per role."""

    app: Flask
    client: FlaskClient
    db: Database
    headers: dict[str, dict[str, str]]

    def get(self, path: str, role: str = "admin", **kwargs: object):  # type: ignore[no-untyped-def]
        """GET as ``role``."""
        return self.client.get(path, headers=self.headers[role], **kwargs)

    def call(self, method: str, path: str, role: str | None = "admin", **kwargs: object):  # type: ignore[no-untyped-def]
        """Any method as ``role`` (None: anonymous)."""
        headers = self.headers[role] if role else {}
        return self.client.open(path, method=method, headers=headers, **kwargs)


@pytest.fixture
def api_db(db_any: Database) -> Database:
    """A migrated database (SQLite, PostgreSQL) holding ``api_dag`` and ``api_other``, and one run of ``api_dag``."""
    database, settings = db_any, db_any.settings
    folder = settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "api_dags.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(database, [folder], paused_at_creation=True)
    trigger_dag(settings, database, "api_dag", run_id=RUN_ID, logical_date=pendulum.datetime(2024, 2, 1))
    return database


@pytest.fixture
def api(api_db: Database) -> Iterator[Api]:
    """The app on ``api_db`` with users ``admin``, ``op``, ``viewer`` (password ``PASSWORD``) and their tokens."""
    app = create_app(api_db.settings, db=api_db)
    app.config.update(TESTING=True)
    headers = {}
    for role in ROLES:
        users.create_user(api_db, role, PASSWORD, role)
        token = users.issue_token(api_db, role, name="test").token
        headers[role] = {"Authorization": f"Bearer {token}"}
    yield Api(app, app.test_client(), api_db, headers)
