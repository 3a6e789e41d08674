"""Workloads cross process and broker boundaries as plain dicts."""

from __future__ import annotations

import json

import pytest

from dagflow.execution.workload import TaskOutcome, TaskWorkload
from dagflow.executors.base import TaskEvent
from dagflow.state import TaskInstanceState as TI


def test_round_trip_through_json() -> None:
    workload = TaskWorkload(7, "d", "r", "g.t", 2, 3, queue="gpu")
    data = json.loads(json.dumps(workload.to_dict()))
    assert TaskWorkload.from_dict({**data, "unknown": 1}) == workload
    assert workload.key == "d.g.t[2]@r#3"


@pytest.mark.parametrize(
    "change",
    [
        {"run_id": "x/../../../tmp/escaped"},
        {"run_id": "r" * 251},
        {"dag_id": "a b"},
        {"task_id": ""},
        {"ti_id": "7"},
        {"try_number": True},
    ],
)
def test_a_malformed_workload_is_refused(change: dict[str, object]) -> None:
    data = {**TaskWorkload(7, "d", "r", "t", -1, 1).to_dict(), **change}
    with pytest.raises(ValueError):
        TaskWorkload.from_dict(data)


def test_event_from_outcome() -> None:
    assert TaskEvent.from_outcome(TaskOutcome(1, 2, TI.SUCCESS)) == TaskEvent(1, 2, TI.SUCCESS, None)
    lost = TaskEvent.from_outcome(TaskOutcome(1, 2, TI.RUNNING, "other worker", claimed=False))
    assert lost.info == "not claimed: other worker"
    assert not TaskOutcome(1, 2, None, claimed=False).finished_try
