"""Unit tests of plan_run: one planner call at a time, and whole runs via the simulator."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from dagflow.scheduler.planner import RunPlan, TISnapshot, next_wakeup, plan_run
from dagflow.state import DagRunState, TaskInstanceState

TI = TaskInstanceState
NOW = datetime(2024, 1, 1, 12, tzinfo=UTC)


def _plan(dag: Any, tis: list[TISnapshot], **kw: Any) -> RunPlan:
    kw.setdefault("task_map", {})
    kw.setdefault("branch_decisions", {})
    kw.setdefault("now", NOW)
    return plan_run(dag, tis, **kw)


def _tis(**states: TaskInstanceState) -> list[TISnapshot]:
    return [TISnapshot(tid, -1, state) for tid, state in states.items()]


# --- first plan, creation, cascade -----------------------------------------------------
def test_empty_run_creates_every_task_and_schedules_roots(build_dag: Any) -> None:
    dag = build_dag("d", [("a", "b"), ("b", "c")])
    plan = _plan(dag, [])
    assert plan.create == ("a", "b", "c")
    assert plan.schedule == (("a", -1),)
    assert plan.run_state is None


def test_skip_cascades_through_a_chain_in_one_plan(build_dag: Any) -> None:
    dag = build_dag("d", [("a", "b"), ("b", "c"), ("c", "d")])
    plan = _plan(dag, _tis(a=TI.SKIPPED, b=TI.NONE, c=TI.NONE, d=TI.NONE))
    assert plan.skip == (("b", -1), ("c", -1), ("d", -1))
    assert plan.run_state is DagRunState.SUCCESS


def test_failure_cascades_as_upstream_failed_and_fails_the_run(build_dag: Any) -> None:
    dag = build_dag("d", [("a", "b"), ("b", "c")])
    plan = _plan(dag, _tis(a=TI.FAILED, b=TI.NONE, c=TI.NONE))
    assert plan.upstream_fail == (("b", -1), ("c", -1))
    assert plan.run_state is DagRunState.FAILED


def test_run_waits_while_anything_is_unfinished(build_dag: Any) -> None:
    dag = build_dag("d", [("a", "b")], {"c": {}})
    plan = _plan(dag, _tis(a=TI.FAILED, b=TI.NONE, c=TI.RUNNING))
    assert plan.upstream_fail == (("b", -1),)
    assert plan.run_state is None


def test_leaf_rule_failure_upstream_of_an_all_done_leaf_still_succeeds(build_dag: Any) -> None:
    dag = build_dag("d", [("a", "b")], {"b": {"trigger_rule": "all_done"}})
    plan = _plan(dag, _tis(a=TI.FAILED, b=TI.SUCCESS))
    assert plan.run_state is DagRunState.SUCCESS


# --- retries ---------------------------------------------------------------------------
def test_retry_is_scheduled_only_when_due(build_dag: Any) -> None:
    dag = build_dag("d", [], {"a": {"retries": 2}})
    later = NOW + timedelta(seconds=30)
    tis = [TISnapshot("a", -1, TI.UP_FOR_RETRY, 1, 2, later)]
    early = _plan(dag, tis)
    assert early.schedule == () and early.run_state is None
    assert early.next_wakeup == later and next_wakeup(tis) == later
    due = _plan(dag, tis, now=later)
    assert due.schedule == (("a", -1),) and due.next_wakeup is None


def test_reschedule_without_time_is_due_now(build_dag: Any) -> None:
    dag = build_dag("d", [], {"s": {}})
    plan = _plan(dag, [TISnapshot("s", -1, TI.UP_FOR_RESCHEDULE, 1, 0, None)])
    assert plan.schedule == (("s", -1),)


def test_retry_timing_through_the_simulator(build_dag: Any, simulator: Any) -> None:
    dag = build_dag("d", [], {"a": {"retries": 2, "retry_delay": timedelta(minutes=5)}})
    sim = simulator(dag, {"a": TI.FAILED})
    assert sim.run() is DagRunState.FAILED
    assert sim.tis[("a", -1)].try_number == 3
    assert sim.now - datetime(2024, 1, 1, tzinfo=UTC) == timedelta(minutes=10)


# --- mapping ---------------------------------------------------------------------------
def _mapped(spec: dict[str, Any]) -> dict[str, Any]:
    return {"is_mapped": True, "expand_input": spec}


def test_literal_mapping_is_the_product_of_lengths(build_dag: Any) -> None:
    spec = {"x": {"kind": "literal", "length": 3}, "y": {"kind": "literal", "length": 4}}
    dag = build_dag("d", [], {"m": _mapped(spec)})
    plan = _plan(dag, _tis(m=TI.NONE))
    assert plan.expand == {"m": 12} and plan.schedule == ()


def test_xcom_mapping_uses_task_map(build_dag: Any) -> None:
    spec = {"x": {"kind": "xcom", "task_id": "src", "key": "return_value"}}
    dag = build_dag("d", [("src", "m")], {"m": _mapped(spec)})
    plan = _plan(dag, _tis(src=TI.SUCCESS, m=TI.NONE), task_map={"src": 7})
    assert plan.expand == {"m": 7}


def test_empty_list_skips_the_mapped_task_and_its_downstream(build_dag: Any, simulator: Any) -> None:
    spec = {"x": {"kind": "xcom", "task_id": "src", "key": "return_value"}}
    dag = build_dag("d", [("src", "m"), ("m", "after")], {"m": _mapped(spec)})
    sim = simulator(dag, {"src": ("map", 0)})
    assert sim.run() is DagRunState.SUCCESS
    assert sim.states() == {"src": "success", "m": "skipped", "after": "skipped"}
    assert sim.notes[("m", -1)] == "empty map"


def test_missing_map_input_fails_upstream(build_dag: Any) -> None:
    spec = {"x": {"kind": "xcom", "task_id": "src", "key": "return_value"}}
    dag = build_dag("d", [("src", "m")], {"m": _mapped(spec)})
    plan = _plan(dag, _tis(src=TI.SUCCESS, m=TI.NONE))
    assert plan.upstream_fail == (("m", -1),) and plan.expand == {}


def test_mapping_over_a_mapped_upstream_counts_its_task_instances(build_dag: Any) -> None:
    first = _mapped({"x": {"kind": "literal", "length": 4}})
    second = _mapped({"x": {"kind": "xcom", "task_id": "first", "key": "return_value"}})
    dag = build_dag("d", [("first", "second")], {"first": first, "second": second})
    tis = [TISnapshot("first", i, TI.SUCCESS) for i in range(4)] + _tis(second=TI.NONE)
    assert _plan(dag, tis).expand == {"second": 4}


def test_downstream_of_a_mapped_task_waits_for_every_index(build_dag: Any) -> None:
    dag = build_dag("d", [("m", "after")], {"m": _mapped({"x": {"kind": "literal", "length": 3}})})
    tis = [TISnapshot("m", 0, TI.SUCCESS), TISnapshot("m", 1, TI.RUNNING), TISnapshot("m", 2, TI.SUCCESS)]
    assert _plan(dag, [*tis, *_tis(after=TI.NONE)]).schedule == ()
    tis[1] = TISnapshot("m", 1, TI.FAILED)
    assert _plan(dag, [*tis, *_tis(after=TI.NONE)]).upstream_fail == (("after", -1),)


# --- branching and short circuit ---------------------------------------------------------
def test_branch_skips_unfollowed_direct_downstream_even_with_lenient_rule(build_dag: Any) -> None:
    dag = build_dag("d", [("b", "x"), ("b", "y")], {"y": {"trigger_rule": "all_done"}})
    plan = _plan(dag, _tis(b=TI.SUCCESS, x=TI.NONE, y=TI.NONE), branch_decisions={"b": {"followed": ["x"]}})
    assert plan.schedule == (("x", -1),) and plan.skip == (("y", -1),)
    assert plan.notes[("y", -1)] == "branch"


def test_branch_decision_ignored_until_branch_succeeds(build_dag: Any) -> None:
    dag = build_dag("d", [("b", "x"), ("b", "y")])
    plan = _plan(dag, _tis(b=TI.RUNNING, x=TI.NONE, y=TI.NONE), branch_decisions={"b": {"followed": ["x"]}})
    assert plan.is_empty


def test_short_circuit_all_descendants_ignores_trigger_rules(build_dag: Any, simulator: Any) -> None:
    edges = [("sc", "a"), ("a", "b"), ("other", "b")]
    dag = build_dag("d", edges, {"b": {"trigger_rule": "all_done"}})
    sim = simulator(dag, {"sc": ("short_circuit", True)})
    assert sim.run() is DagRunState.SUCCESS
    assert sim.states() == {"sc": "success", "a": "skipped", "b": "skipped", "other": "success"}
    assert sim.notes[("b", -1)] == "short_circuit"


def test_short_circuit_respecting_trigger_rules_skips_direct_downstream_only(build_dag: Any, simulator: Any) -> None:
    edges = [("sc", "a"), ("a", "b"), ("other", "b")]
    dag = build_dag("d", edges, {"b": {"trigger_rule": "all_done"}})
    sim = simulator(dag, {"sc": ("short_circuit", False)})
    assert sim.run() is DagRunState.SUCCESS
    assert sim.states() == {"sc": "success", "a": "skipped", "b": "success", "other": "success"}


# --- removed, disabled, allow_failure, depends_on_past ------------------------------------
def test_task_instances_of_removed_tasks_are_removed(build_dag: Any) -> None:
    dag = build_dag("d", [], {"a": {}})
    tis = _tis(a=TI.SUCCESS, gone=TI.NONE, gone_done=TI.SUCCESS, gone_running=TI.RUNNING)
    plan = _plan(dag, [*tis, TISnapshot("a", 3, TI.SCHEDULED)])
    assert plan.remove == (("gone", -1), ("a", 3))
    assert plan.run_state is DagRunState.SUCCESS


def test_disabled_task_is_skipped_with_a_note_and_counts_as_success(build_dag: Any) -> None:
    dag = build_dag("d", [("off", "after")], {"off": {"disabled": True}})
    first = _plan(dag, _tis(off=TI.NONE, after=TI.NONE))
    assert first.skip == (("off", -1),) and first.notes[("off", -1)] == "disabled"
    assert first.schedule == (("after", -1),)


def test_switched_off_task_is_skipped_with_its_reason_and_counts_as_success(build_dag: Any) -> None:
    """``tasks disable``: the planner gets ``switched_off``; a mapped task is skipped before it expands."""
    literal = {"x": {"kind": "literal", "length": 3}}
    dag = build_dag("d", [("off", "after"), ("fan", "after")], {"fan": {"is_mapped": True, "expand_input": literal}})
    first = _plan(dag, _tis(off=TI.NONE, fan=TI.NONE, after=TI.NONE), switched_off={"off": "vendor down", "fan": None})
    assert set(first.skip) == {("off", -1), ("fan", -1)} and first.expand == {}
    assert first.notes[("off", -1)] == "disabled: vendor down" and first.notes[("fan", -1)] == "disabled"
    assert first.schedule == (("after", -1),)  # both skips count as success for all_success
    done = _plan(dag, _tis(off=TI.SKIPPED, fan=TI.SKIPPED, after=TI.NONE), switched_off={"off": None, "fan": None})
    assert done.schedule == (("after", -1),)
    not_switched = _plan(dag, _tis(off=TI.SKIPPED, fan=TI.SKIPPED, after=TI.NONE))
    assert not_switched.skip == (("after", -1),)  # a plain skip still skips downstream


def test_allow_failure_sets_warning_and_run_succeeds(build_dag: Any) -> None:
    dag = build_dag("d", [("soft", "after")], {"soft": {"allow_failure": True}, "leaf": {"allow_failure": True}})
    plan = _plan(dag, _tis(soft=TI.FAILED, after=TI.SUCCESS, leaf=TI.FAILED))
    assert plan.run_state is DagRunState.SUCCESS
    assert plan.has_soft_failures and len(plan.warnings) == 2


def test_past_not_met_holds_the_task(build_dag: Any) -> None:
    dag = build_dag("d", [], {"a": {"depends_on_past": True}})
    held = _plan(dag, _tis(a=TI.NONE), past_not_met={"a"})
    assert held.is_empty and held.run_state is None
    assert _plan(dag, _tis(a=TI.NONE)).schedule == (("a", -1),)


def test_upstream_failed_applies_even_when_past_not_met(build_dag: Any) -> None:
    dag = build_dag("d", [("a", "b")], {"b": {"depends_on_past": True}})
    plan = _plan(dag, _tis(a=TI.FAILED, b=TI.NONE), past_not_met={"b"})
    assert plan.upstream_fail == (("b", -1),)


# --- scale -----------------------------------------------------------------------------
def test_fanout_1000_is_planned_quickly(build_dag: Any) -> None:
    middle = [f"t{i:04d}" for i in range(1000)]
    dag = build_dag("fanout", [("start", m) for m in middle] + [(m, "end") for m in middle])
    tis = [TISnapshot("start", -1, TI.SUCCESS)] + [TISnapshot(m, -1, TI.NONE) for m in middle]
    tis.append(TISnapshot("end", -1, TI.NONE))
    began = time.perf_counter()
    plan = _plan(dag, tis)
    elapsed = time.perf_counter() - began
    assert len(plan.schedule) == 1000
    print(f"\nfanout1000: one plan in {elapsed * 1000:.1f} ms")
    done = [TISnapshot(t.task_id, -1, TI.SUCCESS) if t.task_id != "end" else t for t in tis]
    assert _plan(dag, done).schedule == (("end", -1),)
