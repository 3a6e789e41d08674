"""Every acceptance DAG file imports and has exactly the tasks and edges it spells out."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from dagflow.sdk.dag import DAG
from dagflow.state import TriggerRule

ACCEPTANCE = Path("/work/shared/acceptance/dags")
if not ACCEPTANCE.is_dir():  # the repository copy, when present
    ACCEPTANCE = Path(__file__).resolve().parents[3] / "tests" / "acceptance" / "dags"

EXPECTED_EDGES: dict[str, set[tuple[str, str]]] = {
    "acc_branching": {
        ("start", "choose"), ("choose", "path_a"), ("choose", "path_b"), ("path_b", "b2"),
        ("path_a", "join"), ("b2", "join"),
    },
    "acc_mapping": {("numbers", "double"), ("double", "total"), ("add", "total")},
    "acc_retries": {("always_fails", "after_fail")},
    "acc_sensor": {("wait_for_it", "after_wait"), ("never", "after_never")},
    "acc_short_circuit": {("stop", "s1"), ("s1", "s2"), ("go", "g1")},
    "acc_soft": {("soft", "after_soft"), ("off", "after_off")},
    "acc_storage": {("write_file", "read_file"), ("big", "check_big"), ("remember", "recall")},
    "acc_switch": {("switch", "deploy_prod"), ("switch", "deploy_dev"), ("switch", "deploy_none")},
    "acc_taskflow": {("extract", "transform"), ("transform", "load"), ("load", "check")},
    "acc_taskgroup": {
        ("start", "extract.e1"), ("start", "extract.e2"), ("extract.e1", "load.l1"),
        ("extract.e2", "load.l1"), ("load.l1", "end"),
    },
    "acc_templating": set(),
    "acc_timeout": {("slow", "after_slow")},
}  # fmt: skip

EXPECTED_TASKS: dict[str, set[str]] = {
    "acc_branching": {"start", "choose", "path_a", "path_b", "b2", "join"},
    "acc_mapping": {"numbers", "double", "add", "total"},
    "acc_retries": {"flaky", "always_fails", "fail_fast", "after_fail"},
    "acc_sensor": {"wait_for_it", "after_wait", "never", "after_never"},
    "acc_short_circuit": {"stop", "s1", "s2", "go", "g1"},
    "acc_soft": {"soft", "after_soft", "off", "after_off"},
    "acc_storage": {"write_file", "read_file", "big", "check_big", "remember", "recall"},
    "acc_switch": {"switch", "deploy_prod", "deploy_dev", "deploy_none"},
    "acc_taskflow": {"extract", "transform", "load", "check"},
    "acc_taskgroup": {"start", "extract.e1", "extract.e2", "load.l1", "end"},
    "acc_templating": {"bash", "python"},
    "acc_timeout": {"slow", "after_slow", "fast"},
}


def load(name: str) -> DAG:
    created: list[DAG] = []
    DAG._creation_listeners.append(created.append)
    try:
        runpy.run_path(str(ACCEPTANCE / f"{name}.py"))
    finally:
        DAG._creation_listeners.remove(created.append)
    assert [d.dag_id for d in created] == [name]
    return created[0]


def edges(dag: DAG) -> set[tuple[str, str]]:
    return {(t.task_id, down) for t in dag.tasks for down in t.downstream_task_ids}


@pytest.mark.parametrize("name", sorted(EXPECTED_TASKS))
def test_acceptance_dag_structure(name: str) -> None:
    dag = load(name)
    assert set(dag.task_ids) == EXPECTED_TASKS[name]
    assert edges(dag) == EXPECTED_EDGES[name]
    for task in dag.tasks:
        for up in task.upstream_task_ids:
            assert task.task_id in dag.get_task(up).downstream_task_ids


def test_acc_trigger_rules_structure() -> None:
    dag = load("acc_trigger_rules")
    assert {"good", "bad", "skipped"} <= set(dag.task_ids)
    assert dag.get_task("nfmos").trigger_rule is TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    assert dag.get_task("nfmos").upstream_task_ids == {"good", "skipped"}
    assert dag.get_task("all_done").upstream_task_ids == {"good", "bad", "skipped"}
    assert dag.get_task("always").trigger_rule is TriggerRule.ALWAYS
    assert len(dag.task_ids) == 23


def test_acceptance_details() -> None:
    mapping = load("acc_mapping")
    assert mapping.get_task("double").is_mapped and mapping.get_task("add").is_mapped
    assert mapping.get_task("add").expand_input_spec() == {"x": {"kind": "literal", "length": 3}}
    assert mapping.get_task("double").expand_input_spec()["x"]["task_id"] == "numbers"
    retries = load("acc_retries")
    assert retries.get_task("always_fails").retries == 2
    assert retries.get_task("always_fails").retry_delay.total_seconds() == 0
    timeout = load("acc_timeout")
    assert timeout.get_task("slow").execution_timeout.total_seconds() == 2
    soft = load("acc_soft")
    assert soft.get_task("soft").allow_failure and soft.get_task("off").disabled
    sensor = load("acc_sensor")
    assert sensor.get_task("wait_for_it").mode == "reschedule" and sensor.get_task("never").soft_fail
    switch = load("acc_switch")
    assert switch.params["env"] == "dev"
