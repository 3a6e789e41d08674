"""Clearing a task brings its setups and teardowns along, as Airflow's clear does."""

from __future__ import annotations

from datetime import datetime

import pytest

from dagflow import DAG
from dagflow.operators import EmptyOperator
from dagflow.serialization import deserialize_dag, serialize_dag
from dagflow.serialization.objects import SerializedDag
from dagflow.services.clearing import ClearRequest, select_task_ids


@pytest.fixture(scope="module")
def sdag() -> SerializedDag:
    """create_cluster (setup) >> [load, report] >> delete_cluster (teardown); prepare >> load; report >> notify.

    A second, unrelated pair: lock (setup) >> audit >> unlock (teardown).
    """
    with DAG("st", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
        create = EmptyOperator(task_id="create_cluster")
        delete = EmptyOperator(task_id="delete_cluster")
        load = EmptyOperator(task_id="load")
        report = EmptyOperator(task_id="report")
        prepare = EmptyOperator(task_id="prepare")
        notify = EmptyOperator(task_id="notify")
        create >> [load, report] >> delete.as_teardown(setups=create)
        prepare >> load
        report >> notify
        lock = EmptyOperator(task_id="lock")
        unlock = EmptyOperator(task_id="unlock")
        lock >> EmptyOperator(task_id="audit") >> unlock.as_teardown(setups=lock)
    return deserialize_dag(serialize_dag(dag))


def clear(sdag: SerializedDag, regex: str, **flags: bool) -> set[str]:
    return select_task_ids(sdag, ClearRequest("st", task_regex=regex, **flags))


def test_a_work_task_brings_its_setup_and_teardown(sdag: SerializedDag) -> None:
    assert clear(sdag, "^load$") == {"load", "create_cluster", "delete_cluster"}
    assert clear(sdag, "^audit$") == {"audit", "lock", "unlock"}


def test_a_setup_brings_its_teardown_and_a_teardown_comes_alone(sdag: SerializedDag) -> None:
    assert clear(sdag, "^create_cluster$") == {"create_cluster", "delete_cluster"}
    assert clear(sdag, "^delete_cluster$") == {"delete_cluster"}


def test_downstream_relatives_bring_their_own_setups(sdag: SerializedDag) -> None:
    # prepare's downstream load uses the cluster: it is set up again and torn down
    assert clear(sdag, "^prepare$", downstream=True) == {"prepare", "load", "create_cluster", "delete_cluster"}


def test_upstream_brings_the_teardowns_of_the_setups_among_the_ancestors(sdag: SerializedDag) -> None:
    assert clear(sdag, "^notify$", upstream=True) == {"notify", "report", "create_cluster", "delete_cluster"}


def test_a_task_outside_any_setup_scope_comes_alone(sdag: SerializedDag) -> None:
    # notify runs after report but is not between the cluster's setup and teardown
    assert clear(sdag, "^notify$") == {"notify"}
