"""The UI honours a DAG's ``access_control`` as the API does: hidden from lists, refused on its pages."""

from __future__ import annotations

import textwrap

from dagflow.dag_processing.sync import sync_folders
from dagflow.services.dag_runs import trigger_dag
from tests.unit.www.conftest import Ui

SECRET_DAG = """
from datetime import datetime

from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("secret_dag", schedule=None, start_date=datetime(2024, 1, 1), tags=["secret"],
         access_control={"op": {"can_read"}}):
    EmptyOperator(task_id="t")
"""


def test_a_restricted_dag_is_hidden_and_refused(ui: Ui) -> None:
    folder = ui.settings.core.dags_folder
    (folder / "secret.py").write_text(textwrap.dedent(SECRET_DAG))
    sync_folders(ui.db, [folder], paused_at_creation=True)
    trigger_dag(ui.settings, ui.db, "secret_dag", run_id="manual__secret")

    assert "secret_dag" not in ui.get("/", "viewer").get_data(as_text=True)
    assert "secret_dag" in ui.get("/", "op").get_data(as_text=True)
    assert "secret_dag" not in ui.get("/runs", "viewer").get_data(as_text=True)
    assert "secret_dag" in ui.get("/runs", "admin").get_data(as_text=True)
    assert ui.get("/dags/secret_dag/grid", "viewer").status_code == 403
    assert ui.get("/dags/secret_dag/grid", "op").status_code == 200
