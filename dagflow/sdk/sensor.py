"""``BaseSensorOperator``: poke until a condition holds, in a loop or by rescheduling."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError, FailTask, SensorTimeout, SkipTask, TaskRescheduled
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.durations import to_seconds

MODES = ("poke", "reschedule")


class PokeReturnValue:
    """A poke result that also carries the value to push as the sensor's XCom."""

    def __init__(self, is_done: bool, xcom_value: Any = None) -> None:
        self.is_done = is_done
        self.xcom_value = xcom_value

    def __bool__(self) -> bool:
        return bool(self.is_done)

    def __repr__(self) -> str:
        return f"PokeReturnValue(is_done={self.is_done!r}, xcom_value={self.xcom_value!r})"


class BaseSensorOperator(BaseOperator):
    """Calls ``poke(context)`` every ``poke_interval`` until True or ``timeout``."""

    ui_color = "#e6f1f2"
    is_sensor = True

    def __init__(
        self,
        *,
        poke_interval: timedelta | float | str = 60,
        timeout: timedelta | float | str = 7 * 24 * 3600,
        soft_fail: bool = False,
        mode: str = "poke",
        exponential_backoff: bool = False,
        max_wait: timedelta | float | str | None = None,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        #: Wait in the triggerer instead of a worker slot (for sensors that support it).
        self.deferrable = bool(deferrable)
        self.poke_interval = to_seconds(poke_interval)
        self.timeout = to_seconds(timeout)
        self.soft_fail = soft_fail
        self.exponential_backoff = exponential_backoff
        self.max_wait = to_seconds(max_wait) if max_wait is not None else None
        if mode not in MODES:
            raise DagDefinitionError(f"task {self.task_id!r}: invalid mode {mode!r}; expected 'poke' or 'reschedule'")
        self.mode = mode
        if self.poke_interval < 0 or self.timeout < 0:
            raise DagDefinitionError(f"task {self.task_id!r}: poke_interval and timeout must not be negative")

    @property
    def reschedule(self) -> bool:
        """True in reschedule mode (the worker slot is released between pokes)."""
        return self.mode == "reschedule"

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Check the condition once."""
        raise NotImplementedError(f"{type(self).__name__} must implement poke()")

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke until done (poke mode) or poke once and reschedule (reschedule mode)."""
        if self.reschedule:
            return self._execute_reschedule(context)
        started = time.monotonic()
        poke_count = 1
        while True:
            done, value = self._poke_once(context)
            if done:
                return value
            elapsed = time.monotonic() - started
            if elapsed > self.timeout:
                self._timed_out(elapsed)
            interval = self.next_poke_interval(poke_count, elapsed)
            time.sleep(max(0.0, min(interval, self.timeout - elapsed + 0.01)))
            poke_count += 1

    def _execute_reschedule(self, context: Mapping[str, Any]) -> Any:
        now = pendulum.now("UTC")
        ti = context.get("ti")
        first_poke_at = getattr(ti, "first_poke_at", None) or now
        done, value = self._poke_once(context)
        if done:
            return value
        elapsed = (now - _aware(first_poke_at)).total_seconds()
        if elapsed > self.timeout:
            self._timed_out(elapsed)
        poke_count = getattr(ti, "poke_count", None) or int(elapsed // max(self.poke_interval, 1e-3)) + 1
        interval = self.next_poke_interval(poke_count, elapsed)
        raise TaskRescheduled(now + timedelta(seconds=interval))

    def defer_with(self, trigger: Any, **kwargs: Any) -> None:
        """Defer to ``trigger`` with the sensor's ``timeout``, resuming in ``execute_complete``."""
        self.defer(trigger=trigger, method_name="execute_complete", kwargs=kwargs, timeout=self.timeout)

    def resume_execution(
        self, next_method: str, next_kwargs: Mapping[str, Any] | None, context: Mapping[str, Any]
    ) -> Any:
        """Resume after deferral; a deferral that timed out is the sensor's timeout (skipped with ``soft_fail``)."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except SensorTimeout as exc:
            if self.soft_fail:
                raise SkipTask(f"{exc}; skipped (soft_fail)") from None
            raise

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> Any:
        """Where a deferred sensor resumes: done, unless the event says failed or skipped."""
        status = event.get("status") if isinstance(event, Mapping) else None
        if status == "failed":
            raise FailTask(f"sensor {self.task_id!r}: the trigger reported failure: {event}")
        if status == "skipped":
            raise SkipTask(f"sensor {self.task_id!r}: the trigger reported skipped: {event}")
        return None

    def _poke_once(self, context: Mapping[str, Any]) -> tuple[bool, Any]:
        result = self.poke(context)
        if isinstance(result, PokeReturnValue):
            return bool(result.is_done), result.xcom_value
        return bool(result), None

    def _timed_out(self, elapsed: float) -> None:
        message = f"sensor {self.task_id!r} timed out after {elapsed:.1f}s (timeout {self.timeout:g}s)"
        if self.soft_fail:
            raise SkipTask(message + "; skipped (soft_fail)")
        raise SensorTimeout(message)

    def next_poke_interval(self, poke_count: int, elapsed: float) -> float:
        """Seconds until the next poke (doubling per poke with ``exponential_backoff``, capped)."""
        if not self.exponential_backoff:
            return self.poke_interval
        backoff: int = 2 ** min(max(poke_count - 1, 0), 32)
        interval = self.poke_interval * backoff
        if self.max_wait is not None:
            interval = min(interval, self.max_wait)
        return interval


def _aware(value: datetime) -> pendulum.DateTime:
    """``value`` as a pendulum ``DateTime``; a naive value is read as UTC."""
    return pendulum.instance(value)
