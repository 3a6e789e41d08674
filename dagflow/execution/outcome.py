"""How a try ends, decided from what ``execute`` raised (pure: no I/O).

``SkipTask`` -> skipped; ``FailTask`` (and ``SensorTimeout``) -> failed without retry;
``TaskRescheduled`` -> up_for_reschedule at its date; ``TaskTimeout`` or any other
exception -> up_for_retry while tries are left (next try after the task's retry delay),
else failed. A crash of the task process is decided the same way as an exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dagflow.exceptions import FailTask, SkipTask, TaskRescheduled, TaskTimeout
from dagflow.state import FAILURE_OUTCOMES, TaskInstanceState

TI = TaskInstanceState


@dataclass(frozen=True)
class TryResult:
    """The state a try ends in, why, and when the next try may start."""

    state: TaskInstanceState
    reason: str | None = None
    next_try_at: datetime | None = None

    @property
    def is_failure(self) -> bool:
        """True for ``failed`` and ``up_for_retry`` (the failure callbacks run)."""
        return self.state in FAILURE_OUTCOMES


def can_retry(try_number: int, max_tries: int) -> bool:
    """True if a failed try ``try_number`` may be retried (``max_tries`` = retries, as Airflow)."""
    return try_number <= max_tries


def describe(exc: BaseException) -> str:
    """A one-line reason: ``ValueError: bad input``; a timeout's own message."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, TaskTimeout):
        return message or "timed out"
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def success() -> TryResult:
    """The try succeeded."""
    return TryResult(TI.SUCCESS)


def decide(
    exc: BaseException,
    *,
    try_number: int,
    max_tries: int,
    retry_delay: timedelta,
    now: datetime,
) -> TryResult:
    """The result of a try whose ``execute`` raised ``exc``."""
    if isinstance(exc, SkipTask):
        return TryResult(TI.SKIPPED, describe(exc))
    if isinstance(exc, TaskRescheduled):
        return TryResult(TI.UP_FOR_RESCHEDULE, describe(exc), next_try_at=exc.reschedule_date)
    if isinstance(exc, FailTask):
        return TryResult(TI.FAILED, describe(exc))
    return failure(describe(exc), try_number=try_number, max_tries=max_tries, retry_delay=retry_delay, now=now)


def failure(
    reason: str,
    *,
    try_number: int,
    max_tries: int,
    retry_delay: timedelta,
    now: datetime,
) -> TryResult:
    """A failed try: up_for_retry after ``retry_delay`` if tries are left, else failed."""
    if can_retry(try_number, max_tries):
        return TryResult(TI.UP_FOR_RETRY, reason, next_try_at=now + retry_delay)
    return TryResult(TI.FAILED, reason)


def retry_delay_of(task: Any, try_number: int) -> timedelta:
    """The task's delay after failed try ``try_number`` (zero if it has none)."""
    getter = getattr(task, "get_retry_delay", None)
    if getter is None:
        return timedelta(0)
    return getter(try_number)  # type: ignore[no-any-return]
