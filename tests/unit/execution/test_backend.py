"""DbRuntimeBackend on a real database: XCom (incl. large values), state store, variables,
connections, other DAGs and approvals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow import DAG, Param
from dagflow.db import Database
from dagflow.exceptions import (
    ConnectionNotFound,
    DagNotFound,
    DagRunAlreadyExists,
    DagRunNotFound,
    InvalidConf,
    InvalidIdentifier,
    VariableNotFound,
    XComError,
)
from dagflow.execution.backend import APPROVAL_KEY, DbRuntimeBackend
from dagflow.models.connection import Connection
from dagflow.models.dag import SerializedDagModel
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.variable import Variable
from dagflow.operators import EmptyOperator
from dagflow.serialization import dag_hash, serialize_dag
from dagflow.state import DagRunState, TaskInstanceState

from ._rows import LOGICAL_DATE, add_run, add_ti


@pytest.fixture
def backend(db_any: Database) -> DbRuntimeBackend:
    add_run(db_any)
    return DbRuntimeBackend(db_any, db_any.settings.replace(core={"max_xcom_size": 1024}), dag_id="d", run_id="r")


def push(
    backend: DbRuntimeBackend, task_id: str, value: object, *, map_index: int = -1, key: str = "return_value"
) -> None:
    backend.xcom_push(dag_id="d", run_id="r", task_id=task_id, map_index=map_index, key=key, value=value)


def pull(
    backend: DbRuntimeBackend, task_ids: object, *, key: str = "return_value", map_indexes: object = None
) -> object:
    return backend.xcom_pull(
        dag_id="d",
        run_id="r",
        task_ids=task_ids,
        key=key,  # type: ignore[arg-type]
        map_indexes=map_indexes,
    )  # type: ignore[arg-type]


def test_xcom_round_trip_and_replace(backend: DbRuntimeBackend) -> None:
    push(backend, "a", {"x": [1, 2]})
    assert pull(backend, "a") == {"x": [1, 2]}
    push(backend, "a", 5)
    assert pull(backend, "a") == 5
    assert pull(backend, "missing") is None
    assert pull(backend, ["a", "missing"]) == [5, None]


def test_large_xcom_goes_to_storage_transparently(backend: DbRuntimeBackend) -> None:
    big = list(range(5000))
    push(backend, "big", big)
    assert pull(backend, "big") == big
    stored_files = list(Path(backend.storage.base_url.removeprefix("file://")).rglob("*.json"))
    assert len(stored_files) == 1 and stored_files[0].name == "return_value.json"


def test_non_json_xcom_is_a_clear_error(backend: DbRuntimeBackend) -> None:
    with pytest.raises(XComError, match="not JSON-serializable"):
        push(backend, "a", {1, 2})
    with pytest.raises(XComError):
        push(backend, "a", float("nan"))


def test_mapped_task_pull_is_a_list_by_map_index(backend: DbRuntimeBackend) -> None:
    for index in (2, 0, 1):
        add_ti(backend.db, "m", map_index=index)
        push(backend, "m", index * 10, map_index=index)
    assert pull(backend, "m") == [0, 10, 20]
    assert pull(backend, "m", map_indexes=1) == 10
    assert pull(backend, "m", map_indexes=[2, 0]) == [20, 0]


def test_state_store(backend: DbRuntimeBackend) -> None:
    assert backend.state_get("k", namespace="n", default=0) == 0
    backend.state_set("k", {"a": 1}, namespace="n")
    assert backend.state_get("k", namespace="n", default=None) == {"a": 1}
    backend.state_delete("k", namespace="n")
    backend.state_delete("k", namespace="n")
    assert backend.state_get("k", namespace="n", default=None) is None


def test_variables_and_connections(backend: DbRuntimeBackend) -> None:
    with backend.db.transaction() as session:
        session.add(Variable(key="plain", val="text"))
        session.add(Variable(key="cfg", val='{"n": 1}'))
        session.add(
            Connection(
                conn_id="pg",
                conn_type="postgres",
                host="db",
                port=5432,
                login="u",
                password="p",
                schema="s",
                extra='{"sslmode": "off"}',
            )
        )
    assert backend.get_variable("plain") == "text"
    assert backend.get_variable("cfg", deserialize_json=True) == {"n": 1}
    with pytest.raises(VariableNotFound):
        backend.get_variable("nope")
    conn = backend.get_connection("pg")
    assert (conn["host"], conn["port"], conn["extra"]) == ("db", 5432, {"sslmode": "off"})
    assert conn["uri"].startswith("postgres://u:p@db:5432/s")
    with pytest.raises(ConnectionNotFound):
        backend.get_connection("nope")


def test_trigger_dag_and_run_state(backend: DbRuntimeBackend) -> None:
    with pytest.raises(DagNotFound):
        backend.trigger_dag("other", run_id=None, conf=None, logical_date=LOGICAL_DATE)
    with DAG("other", schedule="@daily", start_date=datetime(2024, 1, 1)) as other:
        EmptyOperator(task_id="t")
    data = serialize_dag(other)
    with backend.db.transaction() as session:
        session.add(SerializedDagModel(dag_id="other", fileloc="other.py", data=data, dag_hash=dag_hash(data)))
    run_id = backend.trigger_dag("other", run_id=None, conf={"k": 1}, logical_date=LOGICAL_DATE)
    assert run_id == f"manual__{LOGICAL_DATE.isoformat()}"
    assert backend.dag_run_state("other", run_id) == DagRunState.QUEUED.value
    assert backend.dag_run_state("other", "nope") is None
    with backend.db.transaction() as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == "other")).one()
        assert (run.conf, run.external_trigger, run.run_type) == ({"k": 1}, True, "manual")
        assert run.data_interval_end == LOGICAL_DATE  # @daily: the day before the trigger
        assert run.data_interval_start == LOGICAL_DATE.subtract(days=1)
    with pytest.raises(DagRunAlreadyExists):
        backend.trigger_dag("other", run_id="again", conf=None, logical_date=LOGICAL_DATE)
    with pytest.raises(InvalidIdentifier, match="invalid run_id"):  # TriggerDagRunOperator's trigger_run_id
        backend.trigger_dag("other", run_id="../../escape", conf=None, logical_date=LOGICAL_DATE.add(days=3))


def test_reset_dag_run_clears_the_existing_run_and_queues_it_again(backend: DbRuntimeBackend) -> None:
    with DAG("other", schedule=None, start_date=datetime(2024, 1, 1)) as other:
        EmptyOperator(task_id="done", retries=2) >> EmptyOperator(task_id="broken") >> EmptyOperator(task_id="busy")
    data = serialize_dag(other)
    with backend.db.transaction() as session:
        session.add(SerializedDagModel(dag_id="other", fileloc="other.py", data=data, dag_hash=dag_hash(data)))
    add_run(backend.db, dag_id="other", run_id="fixed", state=DagRunState.FAILED, conf={"keep": True})
    states = {"done": TaskInstanceState.SUCCESS, "broken": TaskInstanceState.FAILED, "busy": TaskInstanceState.RUNNING}
    for task_id, state in states.items():
        add_ti(backend.db, task_id, dag_id="other", run_id="fixed", state=state)
    with backend.db.transaction() as session:
        session.execute(sa.update(TaskInstance).where(TaskInstance.dag_id == "other").values(try_number=1))

    assert backend.reset_dag_run("other", run_id="fixed", logical_date=None) == "fixed"

    with backend.db.transaction(readonly=True) as session:
        run = session.scalars(sa.select(DagRun).where(DagRun.dag_id == "other")).one()
        assert (run.state, run.conf, run.end_date) == (DagRunState.QUEUED, {"keep": True}, None)
        tis = {ti.task_id: ti for ti in session.scalars(sa.select(TaskInstance).where(TaskInstance.dag_id == "other"))}
    assert {t: ti.state for t, ti in tis.items()} == {
        "done": TaskInstanceState.NONE,
        "broken": TaskInstanceState.NONE,
        "busy": TaskInstanceState.RESTARTING,  # its worker stops it, as `tasks clear` does
    }
    assert (tis["done"].try_number, tis["done"].max_tries) == (1, 3)  # next try 2, retries renewed
    # found by logical date when the run id is not given (a trigger at the same logical date)
    assert backend.reset_dag_run("other", run_id=None, logical_date=LOGICAL_DATE) == "fixed"
    with pytest.raises(DagRunNotFound, match="'other' has no run 'nope'"):
        backend.reset_dag_run("other", run_id="nope", logical_date=LOGICAL_DATE.add(days=9))


def test_trigger_dag_refuses_a_conf_that_breaks_the_target_params(backend: DbRuntimeBackend) -> None:
    with DAG("other", schedule=None, start_date=datetime(2024, 1, 1), params={"n": Param(1, type="integer")}) as other:
        EmptyOperator(task_id="t")
    data = serialize_dag(other)
    with backend.db.transaction() as session:
        session.add(SerializedDagModel(dag_id="other", fileloc="other.py", data=data, dag_hash=dag_hash(data)))
    with pytest.raises(InvalidConf, match=r"^invalid conf for DAG 'other': param 'n': 'x' is not of type 'integer'$"):
        backend.trigger_dag("other", run_id=None, conf={"n": "x"}, logical_date=LOGICAL_DATE)
    with backend.db.transaction() as session:
        assert session.scalars(sa.select(DagRun).where(DagRun.dag_id == "other")).all() == []


def test_external_task_states(backend: DbRuntimeBackend) -> None:
    add_ti(backend.db, "t")
    assert backend.external_task_states("d", "t", logical_date=LOGICAL_DATE) == ["queued"]
    assert backend.external_task_states("d", None, logical_date=LOGICAL_DATE) == ["running"]
    assert backend.external_task_states("nope", "t", logical_date=LOGICAL_DATE) == []


def test_approval_convention(backend: DbRuntimeBackend) -> None:
    ident = {"dag_id": "d", "run_id": "r", "task_id": "gate", "map_index": -1}
    assert backend.approval(**ident) is None
    backend.xcom_push(key=APPROVAL_KEY, value={"decision": "rejected", "comment": "no"}, **ident)
    assert backend.approval(**ident) == ("rejected", "no")


def test_previous_success_interval(backend: DbRuntimeBackend) -> None:
    assert backend.previous_success_interval("d", LOGICAL_DATE) == (None, None)
    earlier = LOGICAL_DATE.subtract(days=1)
    add_run(backend.db, run_id="prev", logical_date=earlier, state=DagRunState.SUCCESS)
    assert backend.previous_success_interval("d", LOGICAL_DATE) == (earlier, LOGICAL_DATE)
