"""One retry policy: the same delays and decisions for the worker, the reaper and the SDK."""

from __future__ import annotations

from datetime import timedelta

import pendulum

from dagflow.operators import EmptyOperator
from dagflow.sdk.try_policy import MAX_BACKOFF, TryPolicy
from dagflow.serialization.objects import SerializedTask
from dagflow.state import TaskInstanceState as TI

NOW = pendulum.datetime(2024, 1, 1, tz="UTC")


def test_backoff_doubles_and_is_capped_by_max_retry_delay_then_by_a_day() -> None:
    policy = TryPolicy(timedelta(minutes=1), retry_exponential_backoff=True)
    assert [policy.delay_after(n) for n in (1, 2, 3)] == [timedelta(minutes=m) for m in (1, 2, 4)]
    assert policy.delay_after(500) == MAX_BACKOFF
    capped = TryPolicy(timedelta(minutes=1), retry_exponential_backoff=True, max_retry_delay=timedelta(minutes=3))
    assert capped.delay_after(3) == timedelta(minutes=3)


def test_an_operator_and_its_serialized_task_get_the_same_policy() -> None:
    op = EmptyOperator(task_id="t", retry_delay="PT2M", retry_exponential_backoff=True, max_retry_delay="PT5M")
    task = SerializedTask(
        task_id="t",
        retry_delay=timedelta(minutes=2),
        retry_exponential_backoff=True,
        max_retry_delay=timedelta(minutes=5),
    )
    assert TryPolicy.of(op) == TryPolicy.of(task)
    assert [op.get_retry_delay(n) for n in (1, 2, 3)] == [TryPolicy.of(task).delay_after(n) for n in (1, 2, 3)]
    assert TryPolicy.of(None).delay_after(3) == timedelta(0)


def test_a_failure_retries_while_tries_are_left() -> None:
    policy = TryPolicy(timedelta(seconds=30))
    first = policy.after_failure(try_number=1, max_tries=1, now=NOW)
    assert (first.state, first.next_try_at) == (TI.UP_FOR_RETRY, NOW + timedelta(seconds=30))
    last = policy.after_failure(try_number=2, max_tries=1, now=NOW)
    assert (last.state, last.next_try_at) == (TI.FAILED, None)


def test_a_lost_try_is_free_for_the_first_infra_retries_then_spends_a_user_retry() -> None:
    policy = TryPolicy(timedelta(seconds=30))
    free = policy.after_loss(try_number=1, max_tries=0, infra_tries=0, max_infra_tries=2, now=NOW)
    assert (free.state, free.next_try_at, free.infra_retry) == (TI.UP_FOR_RETRY, NOW, True)
    spent = policy.after_loss(try_number=3, max_tries=3, infra_tries=2, max_infra_tries=2, now=NOW)
    assert (spent.state, spent.infra_retry) == (TI.UP_FOR_RETRY, False)
    assert spent.next_try_at == NOW + timedelta(seconds=30)
    final = policy.after_loss(try_number=3, max_tries=2, infra_tries=2, max_infra_tries=2, now=NOW)
    assert final.state is TI.FAILED
