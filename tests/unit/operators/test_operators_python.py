from __future__ import annotations

from typing import Any

import pytest

from dagflow import DAG
from dagflow.exceptions import DagDefinitionError
from dagflow.operators import EmptyOperator, PythonOperator
from dagflow.sdk.callables import determine_kwargs
from tests.unit.sdk.conftest import FakeBackend


def run(op: Any, make_ctx: Any, **extra: Any) -> Any:
    ctx = make_ctx(op, **extra)
    op.render_template_fields(ctx)
    return op.execute(ctx)


def test_op_args_and_op_kwargs_are_templated(make_ctx: Any) -> None:
    with DAG("py", params={"name": "dagflow"}):
        op = PythonOperator(
            task_id="p",
            python_callable=lambda a, b, name: (a, b, name),
            op_args=["{{ ds }}", 2],
            op_kwargs={"name": "{{ params.name }}"},
        )
    assert run(op, make_ctx) == ("2024-03-05", 2, "dagflow")


def test_context_injected_by_parameter_name(make_ctx: Any) -> None:
    def wants(ti, ds, run_id, other=None):
        return (ti.task_id, ds, run_id, other)

    op = PythonOperator(task_id="w", python_callable=wants, op_kwargs={"other": 1})
    assert run(op, make_ctx) == ("w", "2024-03-05", "manual__2024-03-05", 1)


def test_var_keyword_gets_whole_context(make_ctx: Any) -> None:
    def everything(x, **context):
        return x, sorted(k for k in ("ti", "ds", "params", "templates_dict") if k in context)

    op = PythonOperator(task_id="e", python_callable=everything, op_args=[1], templates_dict={"q": "{{ ds }}"})
    assert run(op, make_ctx) == (1, ["ds", "params", "templates_dict", "ti"])
    assert op.templates_dict == {"q": "2024-03-05"}


def test_positional_args_are_not_overwritten_by_context() -> None:
    def f(ds, ti=None):
        return ds

    assert determine_kwargs(f, ["mine"], {}, {"ds": "ctx", "ti": 1}) == {"ti": 1}
    with pytest.raises(DagDefinitionError, match="given twice"):
        determine_kwargs(f, ["a"], {"ds": "b"}, {})


def test_return_value_and_multiple_outputs(make_ctx: Any, backend: FakeBackend) -> None:
    op = PythonOperator(task_id="mo", python_callable=lambda: {"a": 1}, multiple_outputs=True)
    assert run(op, make_ctx) == {"a": 1}
    assert backend.xcoms[("mo", -1, "a")] == 1


def test_xcom_pull_from_classic_operator(make_ctx: Any, backend: FakeBackend) -> None:
    with DAG("pull"):
        producer = PythonOperator(task_id="producer", python_callable=lambda: 3)
        consumer = PythonOperator(task_id="consumer", python_callable=lambda ti: ti.xcom_pull(task_ids="producer") * 2)
        producer >> consumer
    backend.xcoms[("producer", -1, "return_value")] = run(producer, make_ctx)
    assert run(consumer, make_ctx) == 6


def test_bad_definitions() -> None:
    with pytest.raises(DagDefinitionError, match="callable"):
        PythonOperator(task_id="x", python_callable="nope")
    with pytest.raises(DagDefinitionError, match="op_args"):
        PythonOperator(task_id="x", python_callable=print, op_args="abc")
    assert EmptyOperator(task_id="e").execute({}) is None
