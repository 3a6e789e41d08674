from __future__ import annotations

from typing import Any

import pytest

from dagflow import DAG, task
from dagflow.exceptions import DagDefinitionError
from dagflow.operators import BashOperator, EmptyOperator, PythonOperator
from dagflow.sdk.mappedoperator import MappedOperator
from tests.unit.sdk.conftest import FakeBackend


def test_classic_partial_expand_and_unmap(backend: FakeBackend, make_ctx: Any) -> None:
    def add(x: int, y: int) -> int:
        return x + y

    with DAG("m", default_args={"retries": 2}) as d:
        mapped = PythonOperator.partial(task_id="add", python_callable=add, op_kwargs={"y": 10}).expand(
            op_args=[[1], [2], [3]]
        )
        end = EmptyOperator(task_id="end")
        mapped >> end
    assert isinstance(mapped, MappedOperator) and mapped.is_mapped
    assert d.get_task("add") is mapped and end.upstream_task_ids == {"add"}
    assert mapped.retries == 2 and mapped.task_type == "PythonOperator"
    assert mapped.expand_input_spec() == {"op_args": {"kind": "literal", "length": 3}}
    results = []
    for index in range(3):
        ctx = make_ctx(mapped, map_index=index)
        op = mapped.unmap(ctx)
        assert op.map_index == index and op.task_id == "add" and op.dag is d and op.retries == 2
        assert op.downstream_task_ids == {"end"}
        op.render_template_fields(ctx)
        results.append(op.execute(ctx))
    assert results == [11, 12, 13]
    assert d.task_ids == ["add", "end"]  # unmapping does not add tasks


def test_cross_product_in_argument_order(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("cp") as d:

        @task
        def combine(letter: str, number: int) -> str:
            return f"{letter}{number}"

        combine.expand(letter=["a", "b"], number=[1, 2, 3])
    mapped = d.get_task("combine")
    spec = mapped.expand_input_spec()
    assert spec == {"letter": {"kind": "literal", "length": 2}, "number": {"kind": "literal", "length": 3}}
    values = []
    for index in range(6):
        ctx = make_ctx(mapped, map_index=index)
        op = mapped.unmap(ctx)
        op.render_template_fields(ctx)
        values.append(op.execute(ctx))
    assert values == ["a1", "a2", "a3", "b1", "b2", "b3"]
    with pytest.raises(DagDefinitionError, match="out of range"):
        mapped.unmap(make_ctx(mapped, map_index=6))


def test_expand_over_upstream_xcom(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("xm") as d:

        @task
        def numbers() -> list[int]:
            return [1, 2, 3]

        @task
        def double(x: int, factor: int) -> int:
            return x * factor

        @task
        def total(values: list[int]) -> int:
            return sum(values)

        total(double.partial(factor=2).expand(x=numbers()))
    mapped = d.get_task("double")
    assert mapped.upstream_task_ids == {"numbers"}
    assert d.get_task("total").upstream_task_ids == {"double"}
    assert mapped.expand_input_spec() == {"x": {"kind": "xcom", "task_id": "numbers", "key": "return_value"}}
    backend.xcoms[("numbers", -1, "return_value")] = [1, 2, 3]
    backend.mapped["double"] = 3
    for index in range(3):
        ctx = make_ctx(mapped, map_index=index)
        op = mapped.unmap(ctx)
        op.render_template_fields(ctx)
        backend.xcoms[("double", index, "return_value")] = op.execute(ctx)
    op = d.get_task("total")
    ctx = make_ctx(op)
    op.render_template_fields(ctx)
    assert op.op_args == [[2, 4, 6]]
    assert op.execute(ctx) == 12


def test_expand_over_dict_and_empty_list(backend: FakeBackend, make_ctx: Any) -> None:
    with DAG("dm") as d:
        BashOperator.partial(task_id="echo").expand(bash_command=["echo 1"])

        @task
        def pair(item: tuple[str, int]) -> str:
            return f"{item[0]}={item[1]}"

        pair.expand(item={"a": 1, "b": 2})
        pair.override(task_id="none").expand(item=[])
    mapped = d.get_task("pair")
    ctx = make_ctx(mapped, map_index=1)
    op = mapped.unmap(ctx)
    op.render_template_fields(ctx)
    assert op.execute(ctx) == "b=2"
    assert d.get_task("none").expand_input_spec() == {"item": {"kind": "literal", "length": 0}}
    assert d.get_task("echo").template_fields == BashOperator.template_fields


def test_expand_validation() -> None:
    with DAG("bad"):
        with pytest.raises(DagDefinitionError, match="needs a task_id"):
            PythonOperator.partial(python_callable=print)
        with pytest.raises(DagDefinitionError, match="cannot map over 'nope'"):
            PythonOperator.partial(task_id="a", python_callable=print).expand(nope=[1])
        with pytest.raises(DagDefinitionError, match="list, a dict or an XComArg"):
            PythonOperator.partial(task_id="b", python_callable=print).expand(op_args=5)
        with pytest.raises(DagDefinitionError, match="both partial"):
            PythonOperator.partial(task_id="c", python_callable=print, op_args=[1]).expand(op_args=[[1]])

        @task
        def f(x: int) -> int:
            return x

        with pytest.raises(DagDefinitionError):
            f.expand(y=[1])
        with pytest.raises(DagDefinitionError, match="both partial"):
            f.partial(x=1).expand(x=[1])
