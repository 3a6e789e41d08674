"""Workloads cross process and broker boundaries as plain dicts."""

from __future__ import annotations

import json

from dagflow.execution.workload import TaskOutcome, TaskWorkload
from dagflow.executors.base import TaskEvent
from dagflow.state import TaskInstanceState as TI


def test_round_trip_through_json() -> None:
    workload = TaskWorkload(7, "d", "r", "g.t", 2, 3, "/dags/d.py", execution_timeout_s=2.5)
    data = json.loads(json.dumps(workload.to_dict()))
    assert TaskWorkload.from_dict({**data, "unknown": 1}) == workload
    assert workload.key == "d.g.t[2]@r#3"


def test_event_from_outcome() -> None:
    assert TaskEvent.from_outcome(TaskOutcome(1, 2, TI.SUCCESS)) == TaskEvent(1, 2, TI.SUCCESS, None)
    lost = TaskEvent.from_outcome(TaskOutcome(1, 2, TI.RUNNING, "other worker", claimed=False))
    assert lost.info == "not claimed: other worker"
    assert not TaskOutcome(1, 2, None, claimed=False).finished_try
