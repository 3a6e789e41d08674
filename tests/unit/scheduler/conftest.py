"""Fixtures for planner tests: a tiny in-memory "worker + applier" that drives the planner to the end of a run.

``make_dag`` builds a ``SerializedDag`` from edges and per-task overrides; ``Simulator``
applies each ``RunPlan`` to its task instances, plays the worker for every scheduled
task instance (an outcome per task, possibly per try), and advances a fake clock to
``plan.next_wakeup`` when nothing else can happen.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dagflow.scheduler.planner import RunPlan, TISnapshot, plan_run
from dagflow.serialization.objects import SerializedDag, SerializedTask
from dagflow.state import DagRunState, TaskInstanceState, TriggerRule

TI = TaskInstanceState
START = datetime(2024, 1, 1, tzinfo=UTC)

#: An outcome: a state; ("branch", [ids]); ("short_circuit", ignore_downstream_rules);
#: ("fail_no_retry",); ("map", n) (success pushing a list of n); or f(try_number, map_index).
Outcome = TaskInstanceState | tuple | Callable[[int, int], Any]


def make_dag(
    dag_id: str,
    edges: Iterable[tuple[str, str]] = (),
    tasks: Mapping[str, Mapping[str, Any]] | None = None,
) -> SerializedDag:
    """A SerializedDag with every task named in ``edges`` or ``tasks``."""
    tasks = dict(tasks or {})
    up: dict[str, set[str]] = {tid: set() for tid in tasks}
    down: dict[str, set[str]] = {tid: set() for tid in tasks}
    for a, b in edges:
        for tid in (a, b):
            up.setdefault(tid, set())
            down.setdefault(tid, set())
        down[a].add(b)
        up[b].add(a)
    built = {}
    for tid in up:
        extra = dict(tasks.get(tid, {}))
        if "trigger_rule" in extra:
            extra["trigger_rule"] = TriggerRule(extra["trigger_rule"])
        built[tid] = SerializedTask(
            task_id=tid, upstream_task_ids=frozenset(up[tid]), downstream_task_ids=frozenset(down[tid]), **extra
        )
    return SerializedDag(dag_id=dag_id, tasks=built)


class Simulator:
    """Plays applier and worker for one DAG run until the planner finishes it."""

    def __init__(self, dag: SerializedDag, outcomes: Mapping[str, Outcome], *, now: datetime = START) -> None:
        self.dag = dag
        self.outcomes = outcomes
        self.now = now
        self.tis: dict[tuple[str, int], TISnapshot] = {}
        self.task_map: dict[str, int] = {}
        self.branch_decisions: dict[str, dict[str, Any]] = {}
        self.notes: dict[tuple[str, int], str] = {}
        self.plans: list[RunPlan] = []
        self.run_state: DagRunState | None = None
        self.past_not_met: set[str] = set()

    def plan(self) -> RunPlan:
        """One planner call on the current state."""
        plan = plan_run(
            self.dag,
            list(self.tis.values()),
            task_map=self.task_map,
            branch_decisions=self.branch_decisions,
            now=self.now,
            past_not_met=self.past_not_met,
        )
        self.plans.append(plan)
        return plan

    def run(self, max_rounds: int = 200) -> DagRunState:
        """Plan, apply, execute, repeat; return the final run state."""
        for _ in range(max_rounds):
            plan = self.plan()
            self.apply(plan)
            if plan.run_state is not None:
                self.run_state = plan.run_state
                return plan.run_state
            ran = self.execute_scheduled()
            if not ran and plan.is_empty:
                assert plan.next_wakeup is not None, f"stuck: {self.states()}"
                self.now = max(self.now, plan.next_wakeup)
        raise AssertionError(f"run did not finish: {self.states()}")

    def apply(self, plan: RunPlan) -> None:
        """Write the plan into the in-memory task instances (the applier's job)."""
        for task_id in plan.create:
            self.tis[(task_id, -1)] = TISnapshot(task_id, -1, TI.NONE, 0, self._max_tries(task_id))
        for key, state in self._plain_updates(plan):
            self.tis[key] = replace(self.tis[key], state=state)
        for task_id, n in plan.expand.items():
            del self.tis[(task_id, -1)]
            for i in range(n):
                self.tis[(task_id, i)] = TISnapshot(task_id, i, TI.SCHEDULED, 0, self._max_tries(task_id))
        for key in plan.schedule:
            self.tis[key] = replace(self.tis[key], state=TI.SCHEDULED, next_try_at=None)
        self.notes.update(plan.notes)

    def _plain_updates(self, plan: RunPlan) -> list[tuple[tuple[str, int], TaskInstanceState]]:
        return (
            [(k, TI.REMOVED) for k in plan.remove]
            + [(k, TI.SKIPPED) for k in plan.skip]
            + [(k, TI.UPSTREAM_FAILED) for k in plan.upstream_fail]
        )

    def execute_scheduled(self) -> bool:
        """Run every scheduled task instance once (the worker's job)."""
        keys = sorted(k for k, ti in self.tis.items() if ti.state is TI.SCHEDULED)
        for key in keys:
            self._execute(self.tis[key])
        return bool(keys)

    def _execute(self, ti: TISnapshot) -> None:
        task = self.dag.get_task(ti.task_id)
        try_number = ti.try_number + 1
        outcome = self.outcomes.get(ti.task_id, TI.SUCCESS)
        if callable(outcome) and not isinstance(outcome, TaskInstanceState):
            outcome = outcome(try_number, ti.map_index)
        state, next_try = self._interpret(ti, task, outcome, try_number)
        self.tis[ti.key] = replace(ti, state=state, try_number=try_number, next_try_at=next_try)

    def _interpret(
        self, ti: TISnapshot, task: SerializedTask, outcome: Any, try_number: int
    ) -> tuple[TaskInstanceState, datetime | None]:
        if isinstance(outcome, tuple):
            return self._special(ti, outcome), None
        if outcome is TI.FAILED and try_number <= task.retries:
            return TI.UP_FOR_RETRY, self.now + task.retry_delay
        if outcome is TI.UP_FOR_RESCHEDULE:
            return outcome, self.now + timedelta(seconds=5)
        return outcome, None

    def _special(self, ti: TISnapshot, outcome: tuple) -> TaskInstanceState:
        kind = outcome[0]
        if kind == "branch":
            self.branch_decisions[ti.task_id] = {"followed": list(outcome[1])}
        elif kind == "short_circuit":
            self.branch_decisions[ti.task_id] = {"followed": [], "all_descendants": bool(outcome[1])}
        elif kind == "map":
            self.task_map[ti.task_id] = outcome[1]
        elif kind == "fail_no_retry":
            return TI.FAILED
        return TI.SUCCESS

    def _max_tries(self, task_id: str) -> int:
        return self.dag.get_task(task_id).retries

    def states(self) -> dict[str, Any]:
        """task_id -> state (or a list by map index, for mapped tasks)."""
        out: dict[str, Any] = {}
        for (task_id, index), ti in sorted(self.tis.items()):
            if index < 0:
                out[task_id] = ti.state.value
            else:
                out.setdefault(task_id, []).append(ti.state.value)
        return out


@pytest.fixture
def build_dag() -> Callable[..., SerializedDag]:
    """``make_dag(dag_id, edges, tasks)`` as a fixture."""
    return make_dag


@pytest.fixture
def simulator() -> type[Simulator]:
    """The ``Simulator`` class as a fixture."""
    return Simulator
