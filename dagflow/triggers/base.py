"""``BaseTrigger`` and ``TriggerEvent``: what a deferred task waits on, and what wakes it."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any, Protocol

from dagflow.exceptions import TaskDeferralError


class TriggerEvent:
    """What a trigger yields when its wait is over; ``payload`` (JSON) reaches the resumed method as ``event``."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TriggerEvent) and other.payload == self.payload

    def __hash__(self) -> int:
        return hash(repr(self.payload))

    def __repr__(self) -> str:
        return f"TriggerEvent<{self.payload!r}>"


class TriggerRuntime(Protocol):
    """What the triggerer offers triggers that read dagflow's own state (a DAG run's or task's state)."""

    def dag_run_state(self, dag_id: str, run_id: str) -> str | None:
        """The state of a DAG run, or None if it does not exist."""
        ...

    def external_task_states(self, dag_id: str, task_id: str | None, *, logical_date: datetime) -> list[str]:
        """States of the task's instances in the run at ``logical_date`` (task id None: the run's state)."""
        ...


class BaseTrigger:
    """A wait that runs in the triggerer's event loop: ``run()`` yields a ``TriggerEvent`` when done.

    Subclasses keep their arguments as attributes and return them from ``serialize()``
    (JSON values only); the triggerer rebuilds the trigger as ``cls(**kwargs)``.
    ``run()`` must not block: use ``await asyncio.sleep`` and ``asyncio.to_thread``.
    """

    #: Set by the triggerer before ``run()``: access to dagflow's state for triggers that need it.
    runtime: TriggerRuntime | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """``(classpath, kwargs)``: how to rebuild this trigger in the triggerer."""
        raise NotImplementedError(f"{type(self).__name__} must implement serialize()")

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Wait, then yield one ``TriggerEvent`` (the first one resumes the task)."""
        raise NotImplementedError(f"{type(self).__name__} must implement run()")
        yield  # pragma: no cover - makes this an async generator

    def cleanup(self) -> None:
        """Called when the trigger is removed (its task resumed, timed out or was cleared)."""

    @classmethod
    def classpath(cls) -> str:
        """``module.ClassName`` of this trigger class."""
        return f"{cls.__module__}.{cls.__qualname__}"

    def __repr__(self) -> str:
        classpath, kwargs = self.serialize()
        return f"<{classpath} {kwargs!r}>"


def trigger_from_classpath(classpath: str, kwargs: Mapping[str, Any]) -> BaseTrigger:
    """Rebuild a trigger; ``TaskDeferralError`` if the class cannot be imported or is not a ``BaseTrigger``."""
    module_name, _, name = classpath.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise TaskDeferralError(f"cannot import trigger {classpath!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, BaseTrigger)):
        raise TaskDeferralError(f"{classpath!r} is not a trigger (a subclass of BaseTrigger)")
    try:
        return cls(**dict(kwargs))
    except TypeError as exc:
        raise TaskDeferralError(f"cannot build trigger {classpath!r}: {exc}") from None
