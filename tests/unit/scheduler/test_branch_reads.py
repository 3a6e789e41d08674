"""The scheduler reads branch decisions only for DAGs with a task that may record one.

An operator class says ``never_branches = True`` for itself only: a subclass (a user's
operator built on ``PythonOperator``) may branch, so its decisions are still read and
honoured. A serialized DAG stored before the flag existed may branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pendulum

from dagflow import DAG, task
from dagflow.operators import BashOperator, BranchPythonOperator, EmptyOperator, PythonOperator, ShortCircuitOperator
from dagflow.sdk.branch import push_branch
from dagflow.serialization import deserialize_dag, serialize_dag
from dagflow.serialization.from_sdk import task_from_operator
from dagflow.testing import run_dag

START = pendulum.datetime(2024, 1, 1, tz="UTC")


class ChooseB(PythonOperator):
    """A user's operator on PythonOperator that records a branch decision itself."""

    def execute(self, context: Mapping[str, Any]) -> Any:
        push_branch(context, self, "b")
        return None


def _never(op: Any) -> bool:
    return task_from_operator(op).never_branches


def test_only_the_declaring_classes_never_branch() -> None:
    with DAG("flags", start_date=START):
        plain = [
            PythonOperator(task_id="py", python_callable=lambda: None),
            EmptyOperator(task_id="empty"),
            BashOperator(task_id="bash", bash_command="true"),
        ]

        @task
        def deco() -> None:
            return None

        @task.branch
        def pick() -> str:
            return "py"

        branching = [
            BranchPythonOperator(task_id="br", python_callable=lambda: None),
            ShortCircuitOperator(task_id="sc", python_callable=lambda: True),
            ChooseB(task_id="mine", python_callable=lambda: None),
        ]
        decorated, picker = deco(), pick()
    assert all(_never(op) for op in plain)
    assert _never(decorated.operator)
    assert not any(_never(op) for op in branching)
    assert not _never(picker.operator)


def test_a_dag_may_branch_unless_every_task_never_does_and_old_documents_may() -> None:
    with DAG("plain", start_date=START) as plain:
        EmptyOperator(task_id="a") >> PythonOperator(task_id="b", python_callable=lambda: None)
    with DAG("mixed", start_date=START) as mixed:
        EmptyOperator(task_id="a") >> ChooseB(task_id="b", python_callable=lambda: None)
    assert not deserialize_dag(serialize_dag(plain)).may_branch
    assert deserialize_dag(serialize_dag(mixed)).may_branch
    old = serialize_dag(plain)
    for encoded in old["dag"]["tasks"]:
        encoded.pop("never_branches", None)  # a document written before the flag existed
    assert deserialize_dag(old).may_branch


def test_a_branch_recorded_by_a_subclass_of_a_never_branching_operator_is_honoured() -> None:
    with DAG("choosing", start_date=START) as dag:
        ChooseB(task_id="choose", python_callable=lambda: None) >> [EmptyOperator(task_id=t) for t in "ab"]
    report = run_dag(dag, fork=False)
    assert report.task_states == {"choose": "success", "a": "skipped", "b": "success"}


def test_a_branch_python_operator_still_skips_the_branch_not_taken() -> None:
    with DAG("branching", start_date=START) as dag:
        choose = BranchPythonOperator(task_id="choose", python_callable=lambda: "a")
        choose >> [PythonOperator(task_id=t, python_callable=lambda: None) for t in "ab"]
    report = run_dag(dag, fork=False)
    assert report.task_states == {"choose": "success", "a": "success", "b": "skipped"}
