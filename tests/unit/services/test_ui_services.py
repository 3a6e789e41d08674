"""The services behind the web UI's pages, on SQLite and PostgreSQL: a real run of a DAG with a group, a mapped
task, a failure and a templated field, then the grid, the latest runs, the health summary, the Gantt's tries,
retry failed with its preview, and the rendered template fields the worker kept."""

from __future__ import annotations

from datetime import datetime

import pendulum
import pytest

from dagflow import DAG, task
from dagflow.db import Database
from dagflow.operators import BashOperator, EmptyOperator, PythonOperator
from dagflow.sdk import TaskGroup
from dagflow.services.grid import dag_grid, run_task_states
from dagflow.services.overview import health_summary, recent_runs
from dagflow.services.rendered import rendered_fields
from dagflow.services.run_actions import RunClear, preview, retry_failed, run_tries
from dagflow.services.task_instances import get_task_instance, task_instance_tries
from dagflow.services.variables import set_variable
from dagflow.testing import RunReport, run_dag


def _fail() -> None:
    raise RuntimeError("on purpose")


@task
def _square(x: int) -> int:
    return x * x


def _dag() -> DAG:
    with DAG("ui_services", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("grp"):
            ok = EmptyOperator(task_id="ok")
            bad = PythonOperator(task_id="bad", python_callable=_fail)
            ok >> bad
        start >> ok
        start >> _square.expand(x=[1, 2, 3])
        start >> BashOperator(task_id="say", bash_command="echo {{ var.value.api_token }} {{ run_id }}")
    return dag


@pytest.fixture
def ran(db_any: Database) -> tuple[Database, RunReport]:
    set_variable(db_any, "api_token", "tok-SECRET-123")
    return db_any, run_dag(_dag(), db=db_any, logical_date=pendulum.datetime(2024, 5, 1))


def test_grid_latest_runs_health_and_rendered_fields_of_a_real_run(ran: tuple[Database, RunReport]) -> None:
    db, report = ran
    grid = dag_grid(db, "ui_services")
    rows = {row.node_id: row for row in grid.rows}

    assert [r.run_id for r in grid.runs] == [report.run_id] and grid.total_runs == 1 and not grid.active
    assert [row.node_id for row in grid.rows][:1] == ["start"]  # topological: start first
    assert rows["grp"].is_group and rows["grp"].cells[0].state == "failed"
    assert dict(rows["grp"].cells[0].counts) == {"success": 1, "failed": 1}
    assert rows["grp.bad"].parent == "grp" and rows["grp.bad"].label == "bad"
    assert rows["_square"].is_mapped and dict(rows["_square"].cells[0].counts) == {"success": 3}
    assert run_task_states(db, "ui_services", report.run_id)["_square"] == {"success": 3}

    # the DAG list's latest runs and health strip
    latest = recent_runs(db, ["ui_services", "unknown"])
    summary = health_summary(db.settings, db)

    assert [(r.run_id, r.state) for r in latest["ui_services"]] == [(report.run_id, "failed")]
    assert latest["unknown"] == []
    assert summary.failed_runs_24h == 1
    assert set(summary.components) == {"scheduler", "dag_processor", "triggerer"}
    assert "default_pool" in {p.name for p in summary.pools}

    # what the worker rendered, masked
    found = rendered_fields(db, "ui_services", report.run_id, "say")
    assert found is not None and found.try_number == 1
    assert found.fields["bash_command"] == f"echo *** {report.run_id}"
    assert rendered_fields(db, "ui_services", "no-such-run", "say") is None


def test_retry_failed_previews_then_clears_and_keeps_the_tries(ran: tuple[Database, RunReport]) -> None:
    db, report = ran
    tries = run_tries(db, "ui_services", report.run_id)

    assert {t.task_id for t in tries} == {"start", "grp.ok", "grp.bad", "_square", "say"} and len(tries) == 7
    assert [
        row.task_id for row in preview(db.settings, db, RunClear("ui_services", report.run_id, only_failed=True))
    ] == ["grp.bad"]
    assert {r.task_id for r in retry_failed(db.settings, db, "ui_services", report.run_id)} == {"grp.bad"}
    assert get_task_instance(db, "ui_services", report.run_id, "grp.bad").state is None
    assert [t.try_number for t in task_instance_tries(db, "ui_services", report.run_id, "grp.bad")] == [1]
    downstream = RunClear("ui_services", report.run_id, ("start",), downstream=True)
    assert {r.task_id for r in preview(db.settings, db, downstream)} >= {"start", "grp.ok", "say"}
