"""Serialization: JSON safety, round trips, stable hashes, graph facts of SerializedDag."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dagflow.serialization import (
    SerializationError,
    SerializedDag,
    SerializedTask,
    SerializedTaskGroup,
    dag_hash,
    deserialize_dag,
    serialize_dag,
)
from dagflow.state import TriggerRule


def _task(task_id: str, up: set[str] = frozenset(), down: set[str] = frozenset(), **kw: object) -> SerializedTask:
    return SerializedTask(task_id=task_id, upstream_task_ids=frozenset(up), downstream_task_ids=frozenset(down), **kw)


def _diamond(**task_kw: object) -> SerializedDag:
    tasks = {
        "a": _task("a", set(), {"b", "c"}, **task_kw),
        "b": _task("b", {"a"}, {"d"}, priority_weight=5, **task_kw),
        "c": _task("c", {"a"}, {"d"}, **task_kw),
        "d": _task("d", {"b", "c"}, set(), **task_kw),
    }
    return SerializedDag(dag_id="diamond", tasks=tasks)


def _rich() -> SerializedDag:
    tasks = {
        "g.m": _task(
            "g.m",
            set(),
            set(),
            is_mapped=True,
            trigger_rule=TriggerRule.ONE_DONE,
            expand_input={"x": {"kind": "literal", "length": 3}},
            retry_delay=timedelta(seconds=1.5),
            execution_timeout=timedelta(minutes=5),
            sla=timedelta(hours=1),
            task_group_id="g",
            callbacks=frozenset({"on_failure_callback"}),
            template_fields=("bash_command",),
            log_level="INFO",
        ),
    }
    group = SerializedTaskGroup(None, children=(SerializedTaskGroup("g", tooltip="t", task_ids=("g.m",)),))
    return SerializedDag(
        dag_id="rich",
        tasks=tasks,
        schedule="@daily",
        timezone="Europe/Paris",
        start_date=datetime(2024, 1, 1, tzinfo=UTC),
        dagrun_timeout=timedelta(hours=2),
        tags=("x", "y"),
        params={"n": {"default": 3, "description": None, "schema": {"type": "integer"}}},
        callbacks=frozenset({"on_success_callback"}),
        task_group=group,
        timetable={"type": "cron", "expression": "@daily", "summary": "@daily"},
    )


def _round_trip(doc: dict) -> dict:
    return serialize_dag(deserialize_dag(json.loads(json.dumps(doc))))


def test_document_is_versioned_and_json_safe() -> None:
    doc = serialize_dag(_rich())
    assert doc["version"] == 1
    text = json.dumps(doc)  # raises if anything is not JSON-safe
    task = json.loads(text)["dag"]["tasks"][0]
    assert task["retry_delay"] == 1.5 and task["execution_timeout"] == 300.0
    assert json.loads(text)["dag"]["start_date"] == "2024-01-01T00:00:00+00:00"


def test_round_trip_is_identity_and_hash_is_stable() -> None:
    doc = serialize_dag(_rich())
    again = _round_trip(doc)
    assert again == doc
    assert dag_hash(again) == dag_hash(doc)
    restored = deserialize_dag(doc)
    task = restored.get_task("g.m")
    assert task.execution_timeout == timedelta(minutes=5) and task.trigger_rule is TriggerRule.ONE_DONE
    assert task.has_callback("on_failure_callback") and restored.has_callback("on_success_callback")
    assert restored.task_group is not None and restored.task_group.children[0].task_ids == ("g.m",)


def test_hash_changes_when_the_dag_changes() -> None:
    assert dag_hash(serialize_dag(_diamond())) != dag_hash(serialize_dag(_diamond(retries=1)))


def test_hash_ignores_key_order() -> None:
    doc = serialize_dag(_diamond())
    shuffled = json.loads(json.dumps(doc, sort_keys=True))
    assert dag_hash(shuffled) == dag_hash(doc)


@pytest.mark.parametrize("bad", [{}, {"version": 2, "dag": {}}, {"version": 1}, {"version": 1, "dag": {"x": 1}}])
def test_bad_documents_raise(bad: dict) -> None:
    with pytest.raises(SerializationError):
        deserialize_dag(bad)


def test_topological_order_descendants_and_leaves() -> None:
    dag = _diamond()
    assert dag.topological_order() == ("a", "b", "c", "d")
    assert dag.descendants("a") == {"b", "c", "d"} and dag.descendants("d") == frozenset()
    assert dag.ancestors("d") == {"a", "b", "c"}
    assert [t.task_id for t in dag.roots] == ["a"] and [t.task_id for t in dag.leaves] == ["d"]


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("downstream", {"a": 8, "b": 6, "c": 2, "d": 1}),
        ("upstream", {"a": 1, "b": 6, "c": 2, "d": 8}),
        ("absolute", {"a": 1, "b": 5, "c": 1, "d": 1}),
    ],
)
def test_priority_weight_total(rule: str, expected: dict[str, int]) -> None:
    dag = _diamond(weight_rule=rule)
    assert {tid: dag.priority_weight_total(tid) for tid in dag.tasks} == expected


def test_cycle_is_rejected() -> None:
    tasks = {"a": _task("a", {"b"}, {"b"}), "b": _task("b", {"a"}, {"a"})}
    with pytest.raises(ValueError, match="cycle"):
        SerializedDag(dag_id="c", tasks=tasks)
