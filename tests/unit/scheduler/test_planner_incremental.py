"""Property tests: planning from a ``TIIndex`` kept up to date row by row equals planning from the full list.

The scheduler keeps one index per run between ticks (``ti_reads.KnownTIs``) and ``put``s
only the rows that changed; these tests drive random DAGs through random sequences of
state changes (a worker's outcomes, a person's clears and marks, the planner's own
decisions, rows of tasks that left the DAG) and check, at every step, that the plan
from the kept index is the plan from a fresh read of every row, in the same order.
As the scheduler does, the index is rebuilt after a plan that creates or expands rows.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dagflow.scheduler.planner import RunPlan, TIIndex, TISnapshot, plan_run
from dagflow.serialization.objects import SerializedDag
from dagflow.state import TaskInstanceState, TriggerRule
from tests.unit.scheduler.conftest import make_dag

TI = TaskInstanceState
NOW = datetime(2024, 1, 1, 12, tzinfo=UTC)
OUTCOMES = [TI.SUCCESS, TI.FAILED, TI.SKIPPED, TI.UP_FOR_RETRY, TI.UP_FOR_RESCHEDULE, TI.RUNNING, TI.QUEUED]
RULES = [TriggerRule.ALL_SUCCESS, TriggerRule.ALL_DONE, TriggerRule.ONE_SUCCESS, TriggerRule.NONE_FAILED]


def _random_dag(rng: random.Random) -> SerializedDag:
    """A few tasks, edges only forward (acyclic), some mapped, some with a looser trigger rule."""
    names = [f"t{i}" for i in range(rng.randint(2, 6))]
    edges = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :] if rng.random() < 0.4]
    tasks: dict[str, dict[str, Any]] = {}
    for name in names:
        extra: dict[str, Any] = {"trigger_rule": rng.choice(RULES).value, "retries": rng.randint(0, 1)}
        if rng.random() < 0.3:
            extra.update(is_mapped=True, expand_input={"x": {"kind": "literal", "length": rng.randint(0, 40)}})
        extra["allow_failure"] = rng.random() < 0.2
        tasks[name] = extra
    return make_dag("d", edges, tasks)


class _Run:
    """The rows of one run (the DB) and the index a scheduler keeps of them."""

    def __init__(self, dag: SerializedDag, rng: random.Random) -> None:
        self.dag = dag
        self.rng = rng
        self.rows: dict[tuple[str, int], TISnapshot] = {}
        self.index = TIIndex()
        self.now = NOW

    def plans(self) -> tuple[RunPlan, RunPlan]:
        """(plan from the kept index, plan from every row)."""
        kw: dict[str, Any] = {"task_map": {}, "branch_decisions": {}, "now": self.now}
        return plan_run(self.dag, self.index, **kw), plan_run(self.dag, list(self.rows.values()), **kw)

    def write(self, ti: TISnapshot) -> None:
        """A row changes in the DB; the scheduler hears of it and re-reads that row."""
        self.rows[ti.key] = ti
        self.index.put(ti)

    def apply(self, plan: RunPlan) -> None:
        """The applier writes the plan; after a create or an expansion the scheduler reads the run in full."""
        for task_id in plan.create:
            self.rows[(task_id, -1)] = TISnapshot(task_id)
        for task_id, n in plan.expand.items():
            del self.rows[(task_id, -1)]
            for i in range(n):
                self.rows[(task_id, i)] = TISnapshot(task_id, i, TI.SCHEDULED)
        moves = [(plan.remove, TI.REMOVED), (plan.skip, TI.SKIPPED), (plan.upstream_fail, TI.UPSTREAM_FAILED)]
        for keys, state in [*moves, (plan.schedule, TI.SCHEDULED)]:
            for key in keys:
                self.write(replace(self.rows[key], state=state, next_try_at=None))
        if plan.create or plan.expand:
            self.index = TIIndex(self.rows.values())

    def disturb(self) -> None:
        """Some rows change the way workers and people change them."""
        for _ in range(self.rng.randint(0, 4)):
            key = self.rng.choice(list(self.rows)) if self.rows else None
            roll = self.rng.random()
            if key is None or roll < 0.05:
                self.write(TISnapshot("gone", self.rng.randint(-1, 3), self.rng.choice([TI.NONE, TI.SUCCESS])))
            elif roll < 0.15:
                self.write(replace(self.rows[key], state=TI.NONE, next_try_at=None))  # cleared
            else:
                state = self.rng.choice(OUTCOMES)
                later = self.now + timedelta(seconds=self.rng.randint(-5, 5))
                self.write(
                    replace(self.rows[key], state=state, next_try_at=later if state in (TI.UP_FOR_RETRY,) else None)
                )
        self.now += timedelta(seconds=self.rng.randint(0, 3))


@pytest.mark.parametrize("seed", range(150))
def test_plan_from_a_kept_index_equals_plan_from_every_row(seed: int) -> None:
    rng = random.Random(seed)
    run = _Run(_random_dag(rng), rng)
    for _ in range(25):
        kept, full = run.plans()
        assert kept == full
        run.apply(kept)
        run.disturb()


def test_index_keeps_the_first_position_of_a_replaced_row() -> None:
    index = TIIndex([TISnapshot("a", 0, TI.NONE), TISnapshot("a", 1, TI.NONE), TISnapshot("b")])
    index.put(TISnapshot("a", 0, TI.UP_FOR_RETRY, next_try_at=NOW))
    index.put(TISnapshot("a", 1, TI.UP_FOR_RETRY, next_try_at=NOW))
    assert [ti.key for ti in index] == [("a", 0), ("a", 1), ("b", -1)]
    assert [ti.key for ti in index.waiting()] == [("a", 0), ("a", 1)]
    assert index.counts("a") == {TI.UP_FOR_RETRY: 2}
    assert index.indexes_in("a", TI.NONE) == []
