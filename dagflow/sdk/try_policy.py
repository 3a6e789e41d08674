"""When a failed or lost try is tried again: one policy for the worker, the reaper and the SDK.

A task's ``retries`` become the row's ``max_tries``; ``try_number`` counts tries started.
A failed try ``n`` is retried while ``n <= max_tries``, after the task's ``retry_delay``
(times ``2 ** (n - 1)`` with ``retry_exponential_backoff``, at most ``max_retry_delay``,
and never more than Airflow's 24 hours). A try *lost* to the infrastructure (its worker
stopped heart-beating) does not spend one of the user's retries for the first
``scheduler.max_infra_retries`` losses: it is tried again at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagflow.state import TaskInstanceState

TI = TaskInstanceState
#: Longest delay an exponential backoff reaches (Airflow's ``MAX_RETRY_DELAY``).
MAX_BACKOFF = timedelta(hours=24)


@dataclass(frozen=True)
class NextStep:
    """How a try that went wrong ends: the state, when the next try may start, and what it spent."""

    state: TaskInstanceState
    next_try_at: datetime | None
    #: True when the loss was the infrastructure's and did not spend a user retry.
    infra_retry: bool = False


@dataclass(frozen=True)
class TryPolicy:
    """A task's retry settings, and the decisions that follow from them (pure)."""

    retry_delay: timedelta = timedelta(0)
    retry_exponential_backoff: bool = False
    max_retry_delay: timedelta | None = None

    @classmethod
    def of(cls, task: Any) -> TryPolicy:
        """The policy of an operator, a mapped operator or a serialized task (the default for None)."""
        if task is None:
            return cls()
        return cls(
            retry_delay=getattr(task, "retry_delay", None) or timedelta(0),
            retry_exponential_backoff=bool(getattr(task, "retry_exponential_backoff", False)),
            max_retry_delay=getattr(task, "max_retry_delay", None),
        )

    def delay_after(self, try_number: int) -> timedelta:
        """How long to wait after failed try ``try_number`` (backoff and caps applied)."""
        delay = self.retry_delay
        if self.retry_exponential_backoff:
            exponent = max(0, min(try_number - 1, 64))
            seconds = min(delay.total_seconds() * (2**exponent), MAX_BACKOFF.total_seconds())
            delay = timedelta(seconds=seconds)
        if self.max_retry_delay is not None and delay > self.max_retry_delay:
            delay = self.max_retry_delay
        return delay

    @staticmethod
    def can_retry(try_number: int, max_tries: int) -> bool:
        """True if failed try ``try_number`` may be tried again (``max_tries`` = retries, as Airflow)."""
        return try_number <= max_tries

    def after_failure(self, *, try_number: int, max_tries: int, now: datetime) -> NextStep:
        """A try that failed: ``up_for_retry`` after the delay while tries are left, else ``failed``."""
        if self.can_retry(try_number, max_tries):
            return NextStep(TI.UP_FOR_RETRY, now + self.delay_after(try_number))
        return NextStep(TI.FAILED, None)

    def after_loss(
        self, *, try_number: int, max_tries: int, infra_tries: int, max_infra_tries: int, now: datetime
    ) -> NextStep:
        """A try lost with its worker: again at once, free, for the first ``max_infra_tries`` losses."""
        if infra_tries < max_infra_tries:
            return NextStep(TI.UP_FOR_RETRY, now, infra_retry=True)
        return self.after_failure(try_number=try_number, max_tries=max_tries, now=now)
