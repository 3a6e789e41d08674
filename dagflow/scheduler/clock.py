"""The scheduler's clocks: the wall clock, a frozen one that moves only when told, and waiting on either.

A clock is any callable returning an aware UTC datetime (``Scheduler(clock=...)``).
``wait_until(clock, when)`` is how a loop that has nothing to do lets time pass: on the
wall clock it sleeps (at most ``MAX_NAP`` seconds at a time, so it looks again soon);
a ``FrozenClock`` is moved to ``when`` instead, so a test never sleeps.

Only the scheduler reads this clock (run dates, retry and reschedule waits, run
timeouts); a task's own try times come from the wall clock of the process that runs it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

import pendulum
from pendulum import DateTime

Clock = Callable[[], datetime]

#: Longest single sleep on the wall clock while waiting for a retry delay or a reschedule.
MAX_NAP = 1.0
#: Shortest wait: a wake-up that is due already still lets this much time pass.
MIN_NAP = 0.01


def utc_clock() -> datetime:
    """The wall clock, UTC."""
    return pendulum.now("UTC")


class FrozenClock:
    """A clock that stands still until ``advance()`` or ``set()`` moves it (tests)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _utc(start) if start is not None else pendulum.now("UTC")

    def __call__(self) -> DateTime:
        """The frozen time (a pendulum datetime in UTC)."""
        return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> DateTime:
        """Move forward by ``delta`` or by ``timedelta(**kwargs)`` (``advance(minutes=5)``); the new time."""
        step = (delta or timedelta()) + timedelta(**kwargs)
        if step < timedelta():
            raise ValueError(f"a clock does not go back: advance({step})")
        self._now = self._now + step
        return self._now

    def set(self, when: datetime) -> DateTime:
        """Jump to ``when`` (a naive datetime is read as UTC); the new time."""
        self._now = _utc(when)
        return self._now

    def __repr__(self) -> str:
        return f"FrozenClock({self._now.isoformat()})"


def wait_until(clock: Clock, when: datetime, *, max_nap: float = MAX_NAP) -> None:
    """Let ``clock`` reach ``when``: move a ``FrozenClock`` there, else sleep (``MIN_NAP``..``max_nap`` s)."""
    now = clock()
    if isinstance(clock, FrozenClock):
        clock.set(max(when, now + timedelta(seconds=MIN_NAP)))
        return
    delay = (when - now).total_seconds()
    time.sleep(min(max(delay, MIN_NAP), max_nap))


def _utc(value: datetime) -> DateTime:
    return pendulum.instance(value, tz="UTC").in_timezone("UTC")
