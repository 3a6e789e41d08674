"""A trigger-time conf is checked against the DAG's params at every entry point that creates a run.

``dags trigger``, ``dags test`` and ``dags backfill`` refuse a bad conf with one line on
stderr and exit 2, writing nothing; ``TriggerDagRunOperator`` fails its task with the
same message. The params are read from the serialized DAG (``Param`` schemas survive).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.models import DagRun
from dagflow.models.backfill import Backfill
from tests.unit.cli.conftest import CliResult

PARAMS_DAGS = """
from datetime import datetime

from dagflow import DAG, Param
from dagflow.operators import BashOperator, TriggerDagRunOperator

with DAG("pdag", schedule=None, start_date=datetime(2024, 1, 1),
         params={"n": Param(1, type="integer", minimum=1, maximum=5),
                 "color": Param("red", enum=["red", "blue"]),
                 "code": Param("ab", type="string", pattern="^[a-z]+$"),
                 "who": Param(type="string")}):
    BashOperator(task_id="echo", bash_command="echo 'n={{ params.n }} who={{ params.who }}'")

with DAG("echo_dag", schedule=None, start_date=datetime(2024, 1, 1), params={"n": Param(1, type="integer")}):
    BashOperator(task_id="echo", bash_command="echo 'n={{ params.n }} m={{ params.m | default(0) }}'")

with DAG("parent", schedule=None, start_date=datetime(2024, 1, 1)):
    TriggerDagRunOperator(task_id="trig", trigger_dag_id="pdag", conf={"who": "me", "n": "{{ 'abc' }}"})
"""

REFUSALS = [
    ('{"who": "me", "n": "abc"}', "param 'n': 'abc' is not of type 'integer'"),
    ('{"who": "me", "n": 0}', "param 'n': 0 is less than the minimum of 1"),
    ('{"who": "me", "n": 6}', "param 'n': 6 is greater than the maximum of 5"),
    ('{"who": "me", "color": "green"}', "param 'color': 'green' is not one of ['red', 'blue']"),
    ('{"who": "me", "code": "AB1"}', "param 'code': 'AB1' does not match '^[a-z]+$'"),
    ('{"n": 2}', "param 'who': no value given and it has no default"),
]


@pytest.fixture
def params_dags(cli_env: dict[str, str]) -> None:
    """``pdag`` (params with schemas, one without a default) and ``parent`` (triggers it) in the DAG folder."""
    (Path(cli_env["DAGFLOW_HOME"]) / "dags" / "params_dags.py").write_text(textwrap.dedent(PARAMS_DAGS))


def _runs(db: Database, dag_id: str) -> list[DagRun]:
    with db.transaction() as session:
        return list(session.scalars(sa.select(DagRun).where(DagRun.dag_id == dag_id)))


def assert_refused(result: CliResult, reason: str, dag_id: str = "pdag") -> None:
    assert result.exit_code == 2, result.stderr
    assert result.stderr.splitlines() == [f"Error: invalid conf for DAG {dag_id!r}: {reason}"]


@pytest.mark.parametrize(("conf", "reason"), REFUSALS)
def test_trigger_refuses_a_conf_that_breaks_a_param(
    run_cli: Callable[..., CliResult], cli_db: Database, params_dags: None, conf: str, reason: str
) -> None:
    assert_refused(run_cli("dags", "trigger", "pdag", "--conf", conf), reason)
    assert _runs(cli_db, "pdag") == []


def test_trigger_accepts_a_conf_that_fits(run_cli: Callable[..., CliResult], cli_db: Database, params_dags) -> None:
    result = run_cli("dags", "trigger", "pdag", "--conf", '{"who": "me", "n": 5, "color": "blue", "extra": 1}')
    assert result.exit_code == 0, result.stderr
    assert [run.conf for run in _runs(cli_db, "pdag")] == [{"who": "me", "n": 5, "color": "blue", "extra": 1}]


@pytest.mark.parametrize(("conf", "reason"), [REFUSALS[0], REFUSALS[3], REFUSALS[-1]])
def test_dags_test_refuses_a_conf_that_breaks_a_param(
    run_cli: Callable[..., CliResult], cli_db: Database, params_dags: None, conf: str, reason: str
) -> None:
    assert_refused(run_cli("dags", "test", "pdag", "--conf", conf), reason)
    assert _runs(cli_db, "pdag") == []


def test_backfill_refuses_a_conf_that_breaks_a_param(run_cli: Callable[..., CliResult], cli_db: Database) -> None:
    result = run_cli("dags", "backfill", "cli_dag", "-s", "2024-01-01", "-e", "2024-01-03", "--conf", '{"n": "x"}')
    assert_refused(result, "param 'n': 'x' is not of type 'integer'", dag_id="cli_dag")
    assert _runs(cli_db, "cli_dag") == []
    with cli_db.transaction() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Backfill)) == 0


def test_trigger_dag_run_operator_fails_with_the_message(
    run_cli: Callable[..., CliResult], cli_db: Database, params_dags: None
) -> None:
    assert run_cli("dags", "list").exit_code == 0  # the target DAG is serialized in the DB, as under a scheduler
    assert run_cli("dags", "test", "parent", "-o", "json").exit_code == 1  # `dags test` exits 1 when the run fails
    (run,) = _runs(cli_db, "parent")
    states = run_cli("tasks", "states-for-dag-run", "parent", run.run_id, "-o", "json").json()
    assert [(ti["task_id"], ti["state"]) for ti in states["task_instances"]] == [("trig", "failed")]
    log = run_cli("tasks", "logs", "parent", "trig", run.run_id).stdout
    assert "invalid conf for DAG 'pdag': param 'n': 'abc' is not of type 'integer'" in log
    assert _runs(cli_db, "pdag") == []


def test_conf_overrides_params_by_default_and_not_when_turned_off(
    run_cli: Callable[..., CliResult], cli_env: dict[str, str], cli_db: Database, params_dags: None
) -> None:
    def echoed() -> str:
        result = run_cli("dags", "test", "echo_dag", "--conf", '{"n": 3, "m": 4}', "-o", "json")
        assert result.exit_code == 0, result.stderr
        return run_cli("tasks", "logs", "echo_dag", "echo", result.json()["run_id"]).stdout

    assert "n=3 m=4" in echoed()  # Airflow's default: conf values override params, extra keys join them
    cli_env["DAGFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS"] = "false"
    assert "n=1 m=0" in echoed()
    # as in Airflow, the conf is still checked against the params when the run is created
    refused = run_cli("dags", "trigger", "echo_dag", "--conf", '{"n": "abc"}')
    assert_refused(refused, "param 'n': 'abc' is not of type 'integer'", dag_id="echo_dag")
