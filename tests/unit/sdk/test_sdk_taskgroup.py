from __future__ import annotations

import pytest

from dagflow import DAG, TaskGroup, task, task_group
from dagflow.exceptions import DagDefinitionError, DuplicateTaskIdFound
from dagflow.operators import EmptyOperator


def test_group_prefixes_ids_and_wires_roots_and_leaves() -> None:
    with DAG("tg") as d:
        start = EmptyOperator(task_id="start")
        with TaskGroup("extract") as extract:
            e1 = EmptyOperator(task_id="e1")
            e2 = EmptyOperator(task_id="e2")
            e3 = EmptyOperator(task_id="e3")
            e1 >> e3
        end = EmptyOperator(task_id="end")
        start >> extract >> end
    assert d.task_ids == ["start", "extract.e1", "extract.e2", "extract.e3", "end"]
    assert e1.task_group is extract and e1.label == "e1"
    assert {t.task_id for t in extract.roots} == {"extract.e1", "extract.e2"}
    assert {t.task_id for t in extract.leaves} == {"extract.e2", "extract.e3"}
    assert start.downstream_task_ids == {"extract.e1", "extract.e2"}
    assert end.upstream_task_ids == {"extract.e2", "extract.e3"}
    assert e2.upstream_task_ids == {"start"}


def test_nested_groups_and_group_to_group() -> None:
    with DAG("nested") as d:
        with TaskGroup("outer") as outer:
            with TaskGroup("inner") as inner:
                a = EmptyOperator(task_id="a")
            b = EmptyOperator(task_id="b")
            inner >> b
        with TaskGroup("other", prefix_group_id=False) as other:
            c = EmptyOperator(task_id="c")
        outer >> other
    assert inner.group_id == "outer.inner"
    assert a.task_id == "outer.inner.a" and b.task_id == "outer.b" and c.task_id == "c"
    assert a.downstream_task_ids == {"outer.b"}
    assert c.upstream_task_ids == {"outer.b"}
    assert set(d.task_group_dict) == {"outer", "outer.inner", "other"}
    assert [g.group_id for g in inner.lineage()] == ["outer.inner", "outer", None]


def test_list_of_groups_and_tasks() -> None:
    with DAG("lists"):
        start = EmptyOperator(task_id="start")
        with TaskGroup("g1") as g1:
            EmptyOperator(task_id="x")
        with TaskGroup("g2") as g2:
            EmptyOperator(task_id="y")
        start >> [g1, g2]
    assert start.downstream_task_ids == {"g1.x", "g2.y"}


def test_duplicate_group_id_and_group_outside_dag() -> None:
    with DAG("dup"):
        TaskGroup("g")
        with pytest.raises(DuplicateTaskIdFound):
            TaskGroup("g")
    with pytest.raises(DagDefinitionError, match="must be created in a DAG"):
        TaskGroup("lonely")


def test_group_default_args_apply_to_its_tasks() -> None:
    with DAG("ga", default_args={"retries": 1, "owner": "x"}):
        with TaskGroup("g", default_args={"retries": 4}):
            inside = EmptyOperator(task_id="inside")
        outside = EmptyOperator(task_id="outside")
    assert inside.retries == 4 and inside.owner == "x"
    assert outside.retries == 1


def test_task_group_decorator_with_taskflow() -> None:
    with DAG("deco") as d:

        @task
        def make() -> int:
            return 1

        @task
        def use(x: int) -> int:
            return x

        @task_group
        def section(value: object) -> None:
            use(value)
            EmptyOperator(task_id="side")

        first = section(make())
        second = section(make())
        first >> second
    assert "section.use" in d.task_dict and "section__1.use" in d.task_dict
    assert d.get_task("section.use").upstream_task_ids == {"make"}
    assert d.get_task("section__1.use").upstream_task_ids == {"make__1", "section.use", "section.side"}


def test_task_group_decorator_with_explicit_group_id() -> None:
    with DAG("explicit") as d:

        @task_group(group_id="custom", tooltip="tip")
        def body() -> None:
            EmptyOperator(task_id="t")

        group = body()
    assert isinstance(group, TaskGroup) and group.group_id == "custom" and group.tooltip == "tip"
    assert d.task_ids == ["custom.t"]
