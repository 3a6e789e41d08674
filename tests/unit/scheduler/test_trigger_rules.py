"""Table-driven tests of every trigger rule against every upstream outcome."""

from __future__ import annotations

import pytest

from dagflow.scheduler.trigger_rules import UpstreamCounts, Verdict, evaluate
from dagflow.state import TaskInstanceState, TriggerRule

S, F, K, U, N = (
    TaskInstanceState.SUCCESS,
    TaskInstanceState.FAILED,
    TaskInstanceState.SKIPPED,
    TaskInstanceState.UPSTREAM_FAILED,
    TaskInstanceState.NONE,
)
W, R, SK, UF = Verdict.WAIT, Verdict.RUN, Verdict.SKIP, Verdict.UPSTREAM_FAILED

#: Two upstreams each: every outcome, every pair of outcomes, and unfinished mixes.
SCENARIOS: dict[str, tuple[TaskInstanceState, ...]] = {
    "success": (S, S),
    "failed": (F, F),
    "skipped": (K, K),
    "upstream_failed": (U, U),
    "success+failed": (S, F),
    "success+skipped": (S, K),
    "failed+skipped": (F, K),
    "unfinished": (N, N),
    "success+unfinished": (S, N),
    "failed+unfinished": (F, N),
    "skipped+unfinished": (K, N),
}
ORDER = list(SCENARIOS)

# One row per rule, verdicts in the order of SCENARIOS.
TABLE: dict[TriggerRule, tuple[Verdict, ...]] = {
    TriggerRule.ALL_SUCCESS: (R, UF, SK, UF, UF, SK, UF, W, W, UF, SK),
    TriggerRule.ALL_FAILED: (SK, R, SK, R, SK, SK, SK, W, SK, W, SK),
    TriggerRule.ALL_DONE: (R, R, R, R, R, R, R, W, W, W, W),
    TriggerRule.ALL_SKIPPED: (SK, SK, R, SK, SK, SK, SK, W, SK, SK, W),
    TriggerRule.ONE_SUCCESS: (R, UF, SK, UF, R, R, UF, W, R, W, W),
    TriggerRule.ONE_FAILED: (SK, R, SK, R, R, SK, R, W, W, R, W),
    TriggerRule.ONE_DONE: (R, R, SK, SK, R, R, R, W, R, R, W),
    TriggerRule.NONE_FAILED: (R, UF, R, UF, UF, R, UF, W, W, UF, W),
    TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS: (R, UF, SK, UF, UF, R, UF, W, W, UF, W),
    TriggerRule.NONE_SKIPPED: (R, R, SK, R, R, SK, SK, W, W, W, SK),
    TriggerRule.ALL_DONE_MIN_ONE_SUCCESS: (R, UF, SK, UF, R, SK, SK, W, W, W, SK),
    # No setup among the upstreams: like all_done (the setup cases are in test_teardown_rule_*).
    TriggerRule.ALL_DONE_SETUP_SUCCESS: (R, R, R, R, R, R, R, W, W, W, W),
    TriggerRule.ALWAYS: (R, R, R, R, R, R, R, R, R, R, R),
}

CASES = [
    pytest.param(rule, name, verdicts[i], id=f"{rule.value}-{name}")
    for rule, verdicts in TABLE.items()
    for i, name in enumerate(ORDER)
]


def test_table_covers_every_rule() -> None:
    assert set(TABLE) == set(TriggerRule)
    assert all(len(row) == len(SCENARIOS) for row in TABLE.values())


@pytest.mark.parametrize(("rule", "scenario", "expected"), CASES)
def test_rule_against_outcome(rule: TriggerRule, scenario: str, expected: Verdict) -> None:
    counts = UpstreamCounts.from_states(SCENARIOS[scenario])
    assert evaluate(rule, counts) is expected


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_no_upstream_always_runs(rule: TriggerRule) -> None:
    assert evaluate(rule, UpstreamCounts()) is Verdict.RUN


def test_rule_given_as_string() -> None:
    assert evaluate("all_done", UpstreamCounts.from_states([S, F])) is Verdict.RUN


def test_removed_upstreams_are_neutral() -> None:
    counts = UpstreamCounts.from_states([S, S, TaskInstanceState.REMOVED])
    assert evaluate(TriggerRule.ALL_SUCCESS, counts) is Verdict.RUN
    counts = UpstreamCounts.from_states([F, TaskInstanceState.REMOVED])
    assert evaluate(TriggerRule.ALL_FAILED, counts) is Verdict.RUN


def test_eager_decisions_do_not_wait() -> None:
    many_pending = [N] * 10
    assert evaluate(TriggerRule.ALL_SUCCESS, UpstreamCounts.from_states([F, *many_pending])) is UF
    assert evaluate(TriggerRule.ALL_SUCCESS, UpstreamCounts.from_states([K, *many_pending])) is SK
    assert evaluate(TriggerRule.ONE_SUCCESS, UpstreamCounts.from_states([S, *many_pending])) is R
    assert evaluate(TriggerRule.ONE_FAILED, UpstreamCounts.from_states([U, *many_pending])) is R


def test_in_flight_states_are_unfinished() -> None:
    counts = UpstreamCounts.from_states([S, TaskInstanceState.RUNNING, TaskInstanceState.UP_FOR_RETRY])
    assert counts.done == 1 and counts.total == 3
    assert evaluate(TriggerRule.ALL_SUCCESS, counts) is W


# The exact cases of acceptance DAG acc_trigger_rules (good=success, bad=failed, skipped).
ACCEPTANCE = {
    "all_success_fail": ("all_success", [S, F], UF),
    "all_success_skip": ("all_success", [S, K], SK),
    "all_failed": ("all_failed", [F], R),
    "all_failed_no": ("all_failed", [S, F], SK),
    "all_done": ("all_done", [S, F, K], R),
    "all_skipped": ("all_skipped", [K], R),
    "all_skipped_no": ("all_skipped", [S, K], SK),
    "one_success": ("one_success", [S, F], R),
    "one_success_no": ("one_success", [F], UF),
    "one_failed": ("one_failed", [S, F], R),
    "one_failed_no": ("one_failed", [S, K], SK),
    "one_done": ("one_done", [F, K], R),
    "one_done_no": ("one_done", [K], SK),
    "none_failed": ("none_failed", [S, K], R),
    "none_failed_no": ("none_failed", [S, F], UF),
    "nfmos": ("none_failed_min_one_success", [S, K], R),
    "nfmos_all_skipped": ("none_failed_min_one_success", [K], SK),
    "none_skipped": ("none_skipped", [S, F], R),
    "none_skipped_no": ("none_skipped", [S, K], SK),
    "always": ("always", [F], R),
}


@pytest.mark.parametrize("task_id", list(ACCEPTANCE))
def test_acceptance_trigger_rule_cases(task_id: str) -> None:
    rule, states, expected = ACCEPTANCE[task_id]
    assert evaluate(rule, UpstreamCounts.from_states(states)) is expected


@pytest.mark.parametrize(
    ("setups", "work", "expected"),
    [
        ((S,), F, R),  # the setup succeeded: tear down even though the work failed
        ((S, F), U, R),  # one setup succeeded is enough
        ((F,), U, UF),  # no setup succeeded: nothing to tear down
        ((K,), K, SK),  # every setup skipped: the teardown is skipped
        ((S,), N, W),  # wait for the work
    ],
)
def test_teardown_rule_follows_its_setups(
    setups: tuple[TaskInstanceState, ...], work: TaskInstanceState, expected: Verdict
) -> None:
    plain = UpstreamCounts.from_states((*setups, work))
    counts = UpstreamCounts(
        success=plain.success,
        skipped=plain.skipped,
        failed=plain.failed,
        upstream_failed=plain.upstream_failed,
        done=plain.done,
        total=plain.total,
        setup_total=len(setups),
        setup_success=setups.count(S),
        setup_skipped=setups.count(K),
    )
    assert evaluate(TriggerRule.ALL_DONE_SETUP_SUCCESS, counts) is expected
