"""How a try ends for each kind of exception (pure)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import pytest

from dagflow.exceptions import FailTask, SensorTimeout, SkipTask, TaskRescheduled, TaskTimeout
from dagflow.execution import outcome
from dagflow.sdk.try_policy import TryPolicy
from dagflow.state import TaskInstanceState as TI

NOW = pendulum.datetime(2024, 1, 1, tz="UTC")
DELAY = timedelta(minutes=5)


def decide(exc: BaseException, try_number: int = 1, max_tries: int = 1) -> outcome.TryResult:
    return outcome.decide(exc, try_number=try_number, max_tries=max_tries, policy=TryPolicy(DELAY), now=NOW)


def test_skip_fail_reschedule() -> None:
    assert decide(SkipTask("nothing")) == outcome.TryResult(TI.SKIPPED, "SkipTask: nothing")
    assert decide(FailTask("creds")).state is TI.FAILED
    assert decide(SensorTimeout("late")).state is TI.FAILED
    when = NOW.add(minutes=1)
    rescheduled = decide(TaskRescheduled(when))
    assert (rescheduled.state, rescheduled.next_try_at) == (TI.UP_FOR_RESCHEDULE, when)


@pytest.mark.parametrize("exc", [ValueError("bad"), TaskTimeout("timed out after 2s"), KeyError("k")])
def test_errors_retry_while_tries_are_left(exc: Exception) -> None:
    first = decide(exc, try_number=1, max_tries=1)
    assert (first.state, first.next_try_at) == (TI.UP_FOR_RETRY, NOW + DELAY)
    last = decide(exc, try_number=2, max_tries=1)
    assert (last.state, last.next_try_at) == (TI.FAILED, None)


def test_reasons() -> None:
    assert outcome.describe(ValueError("bad input\nmore")) == "ValueError: bad input"
    assert outcome.describe(TaskTimeout("timed out after 2s")) == "timed out after 2s"
    assert outcome.describe(RuntimeError()) == "RuntimeError"


def test_failure_states() -> None:
    assert outcome.success().state is TI.SUCCESS
    assert outcome.TryResult(TI.UP_FOR_RETRY).is_failure and not outcome.success().is_failure
