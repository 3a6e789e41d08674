"""Trigger rules: may a task run, given the states of its direct upstream task instances?

A pure function of counts, with Airflow 2.x/3.x semantics including the *eager*
decisions Airflow takes with ``flag_upstream_failed`` (for example ``all_success``
becomes ``upstream_failed`` as soon as one upstream failed, without waiting for the
others) and skip propagation (``all_success`` with a skipped upstream is ``skipped``).

The caller builds :class:`UpstreamCounts`; see its docstring for the two dagflow rules
(``allow_failure`` and ``disabled``) that change what counts as a success.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum

from dagflow.state import TaskInstanceState, TriggerRule

TI = TaskInstanceState
TR = TriggerRule


class Verdict(str, Enum):
    """What the planner should do with a task instance in state ``none``."""

    WAIT = "wait"
    RUN = "run"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class UpstreamCounts:
    """States of the direct upstream task instances of one task instance.

    ``total`` counts every upstream task instance (a mapped upstream contributes one per
    map index; an upstream with no task instance yet counts as one unfinished).
    ``done`` counts the finished ones (success, failed, skipped, upstream_failed,
    removed). The caller applies two dagflow rules before counting: a ``failed``
    upstream whose task has ``allow_failure=True`` is counted in ``success``, and a
    ``skipped`` upstream whose task is ``disabled`` is counted in ``success``.
    ``removed`` upstream task instances (map indexes that no longer exist) are
    neutral: they are left out of ``total`` for every rule.
    """

    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0
    removed: int = 0
    done: int = 0
    total: int = 0
    #: Direct upstream task instances of setup tasks, and how many of them succeeded / were skipped.
    setup_total: int = 0
    setup_success: int = 0
    setup_skipped: int = 0

    @property
    def effective_total(self) -> int:
        """Upstream task instances that matter (``removed`` ones left out)."""
        return self.total - self.removed

    @property
    def all_done(self) -> bool:
        """True when every upstream task instance is finished."""
        return self.done >= self.total

    @property
    def failures(self) -> int:
        """Failed plus upstream_failed upstreams."""
        return self.failed + self.upstream_failed

    @classmethod
    def from_states(cls, states: Iterable[TaskInstanceState]) -> UpstreamCounts:
        """Count plain states (no allow_failure/disabled adjustment); handy in tests."""
        buckets = {TI.SUCCESS: 0, TI.SKIPPED: 0, TI.FAILED: 0, TI.UPSTREAM_FAILED: 0, TI.REMOVED: 0}
        total = 0
        for state in states:
            total += 1
            if state in buckets:
                buckets[state] += 1
        return cls(
            success=buckets[TI.SUCCESS],
            skipped=buckets[TI.SKIPPED],
            failed=buckets[TI.FAILED],
            upstream_failed=buckets[TI.UPSTREAM_FAILED],
            removed=buckets[TI.REMOVED],
            done=sum(buckets.values()),
            total=total,
        )


def evaluate(rule: TriggerRule | str, counts: UpstreamCounts) -> Verdict:
    """Decide WAIT / RUN / SKIP / UPSTREAM_FAILED for ``rule`` under ``counts``."""
    rule = TriggerRule(rule)
    if rule is TR.ALWAYS or counts.effective_total <= 0:
        return Verdict.RUN
    return _RULES[rule](counts)


def _all_success(c: UpstreamCounts) -> Verdict:
    if c.failures:
        return Verdict.UPSTREAM_FAILED
    if c.skipped:
        return Verdict.SKIP
    return Verdict.RUN if c.success >= c.effective_total else Verdict.WAIT


def _all_failed(c: UpstreamCounts) -> Verdict:
    if c.success or c.skipped:
        return Verdict.SKIP
    return Verdict.RUN if c.failures >= c.effective_total else Verdict.WAIT


def _all_done(c: UpstreamCounts) -> Verdict:
    return Verdict.RUN if c.all_done else Verdict.WAIT


def _all_skipped(c: UpstreamCounts) -> Verdict:
    if c.success or c.failures:
        return Verdict.SKIP
    return Verdict.RUN if c.skipped >= c.effective_total else Verdict.WAIT


def _one_success(c: UpstreamCounts) -> Verdict:
    if c.success:
        return Verdict.RUN
    if not c.all_done:
        return Verdict.WAIT
    # Everything finished without a success: all skipped -> skipped, else upstream_failed.
    return Verdict.SKIP if c.skipped >= c.effective_total else Verdict.UPSTREAM_FAILED


def _one_failed(c: UpstreamCounts) -> Verdict:
    if c.failures:
        return Verdict.RUN
    return Verdict.SKIP if c.all_done else Verdict.WAIT


def _one_done(c: UpstreamCounts) -> Verdict:
    # Airflow: "done" here means success or failed; skipped/upstream_failed do not count.
    if c.success + c.failed:
        return Verdict.RUN
    return Verdict.SKIP if c.all_done else Verdict.WAIT


def _none_failed(c: UpstreamCounts) -> Verdict:
    if c.failures:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN if c.success + c.skipped >= c.effective_total else Verdict.WAIT


def _none_failed_min_one_success(c: UpstreamCounts) -> Verdict:
    if c.failures:
        return Verdict.UPSTREAM_FAILED
    if c.skipped >= c.effective_total:
        return Verdict.SKIP
    return Verdict.RUN if c.success + c.skipped >= c.effective_total else Verdict.WAIT


def _none_skipped(c: UpstreamCounts) -> Verdict:
    if c.skipped:
        return Verdict.SKIP
    return Verdict.RUN if c.all_done else Verdict.WAIT


def _all_done_min_one_success(c: UpstreamCounts) -> Verdict:
    # Airflow 3: any skipped upstream skips the task; all done with no success fails it.
    if c.skipped:
        return Verdict.SKIP
    if not c.all_done:
        return Verdict.WAIT
    return Verdict.RUN if c.success else Verdict.UPSTREAM_FAILED


def _all_done_setup_success(c: UpstreamCounts) -> Verdict:
    # A teardown: runs once everything upstream is done, if at least one of its setups succeeded.
    if not c.all_done:
        return Verdict.WAIT
    if c.setup_total and c.setup_skipped >= c.setup_total:
        return Verdict.SKIP
    if c.setup_total and not c.setup_success:
        return Verdict.UPSTREAM_FAILED
    return Verdict.RUN


_RULES: dict[TriggerRule, Callable[[UpstreamCounts], Verdict]] = {
    TR.ALL_SUCCESS: _all_success,
    TR.ALL_FAILED: _all_failed,
    TR.ALL_DONE: _all_done,
    TR.ALL_SKIPPED: _all_skipped,
    TR.ONE_SUCCESS: _one_success,
    TR.ONE_FAILED: _one_failed,
    TR.ONE_DONE: _one_done,
    TR.NONE_FAILED: _none_failed,
    TR.NONE_FAILED_MIN_ONE_SUCCESS: _none_failed_min_one_success,
    TR.NONE_SKIPPED: _none_skipped,
    TR.ALL_DONE_MIN_ONE_SUCCESS: _all_done_min_one_success,
    TR.ALL_DONE_SETUP_SUCCESS: _all_done_setup_success,
}
