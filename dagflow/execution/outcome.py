"""How a try ends, decided from what ``execute`` raised (pure: no I/O).

``SkipTask`` -> skipped; ``FailTask`` (and ``SensorTimeout``) -> failed without retry;
``TaskRescheduled`` -> up_for_reschedule at its date; ``TaskDeferred`` -> deferred (its
trigger and where to resume kept with the result); ``TaskTimeout`` or any other
exception -> up_for_retry while tries are left (next try after the task's retry delay),
else failed, as the task's ``TryPolicy`` says. A crash of the task process is decided the same way as an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dagflow.exceptions import FailTask, SkipTask, TaskDeferralError, TaskDeferred, TaskRescheduled, TaskTimeout
from dagflow.sdk.try_policy import TryPolicy
from dagflow.state import FAILURE_OUTCOMES, TaskInstanceState

TI = TaskInstanceState


@dataclass(frozen=True)
class TryResult:
    """The state a try ends in, why, and when the next try may start."""

    state: TaskInstanceState
    reason: str | None = None
    next_try_at: datetime | None = None
    #: A deferred try: ``{"classpath", "kwargs", "method_name", "next_kwargs", "timeout_at"}`` (JSON).
    deferral: Mapping[str, Any] | None = None

    @property
    def is_failure(self) -> bool:
        """True for ``failed`` and ``up_for_retry`` (the failure callbacks run)."""
        return self.state in FAILURE_OUTCOMES


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
    policy: TryPolicy,
    now: datetime,
) -> TryResult:
    """The result of a try whose ``execute`` raised ``exc``."""
    if isinstance(exc, SkipTask):
        return TryResult(TI.SKIPPED, describe(exc))
    if isinstance(exc, TaskDeferred):
        try:
            return TryResult(TI.DEFERRED, describe(exc), deferral=deferral_of(exc, now))
        except TaskDeferralError as error:
            return failure(describe(error), try_number=try_number, max_tries=max_tries, policy=policy, now=now)
    if isinstance(exc, TaskRescheduled):
        return TryResult(TI.UP_FOR_RESCHEDULE, describe(exc), next_try_at=exc.reschedule_date)
    if isinstance(exc, FailTask):
        return TryResult(TI.FAILED, describe(exc))
    return failure(describe(exc), try_number=try_number, max_tries=max_tries, policy=policy, now=now)


def deferral_of(exc: TaskDeferred, now: datetime) -> dict[str, Any]:
    """What the DB keeps of a deferral; ``TaskDeferralError`` if the trigger or kwargs are not JSON."""
    serialize = getattr(exc.trigger, "serialize", None)
    if serialize is None:
        raise TaskDeferralError(f"cannot defer to {exc.trigger!r}: not a trigger (no serialize())")
    classpath, kwargs = serialize()
    data = {
        "classpath": str(classpath),
        "kwargs": dict(kwargs),
        "method_name": exc.method_name,
        "next_kwargs": dict(exc.kwargs),
        "timeout_at": (now + exc.timeout).isoformat() if exc.timeout is not None else None,
    }
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TaskDeferralError(f"cannot defer: the trigger's or the method's kwargs are not JSON ({error})") from None
    return data


def failure(
    reason: str,
    *,
    try_number: int,
    max_tries: int,
    policy: TryPolicy,
    now: datetime,
) -> TryResult:
    """A failed try: as ``policy`` says, up_for_retry after its delay if tries are left, else failed."""
    step = policy.after_failure(try_number=try_number, max_tries=max_tries, now=now)
    return TryResult(step.state, reason, next_try_at=step.next_try_at)
