"""Task callbacks, run after the outcome is committed; an error in one is logged, never raised."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from dagflow.state import TaskInstanceState

log = logging.getLogger(__name__)
TI = TaskInstanceState

#: The task attribute holding the callbacks for each try outcome.
CALLBACK_FOR_STATE: dict[TaskInstanceState, str] = {
    TI.SUCCESS: "on_success_callback",
    TI.FAILED: "on_failure_callback",
    TI.UP_FOR_RETRY: "on_retry_callback",
    TI.SKIPPED: "on_skipped_callback",
}


def callbacks_of(task: Any, attribute: str) -> list[Callable[[Mapping[str, Any]], Any]]:
    """The task's callbacks named ``attribute`` as a list (one, several or none)."""
    value = getattr(task, attribute, None)
    if value is None:
        return []
    if callable(value):
        return [value]
    if isinstance(value, Iterable):
        return [cb for cb in value if callable(cb)]
    return []


def run_callbacks(task: Any, attribute: str, context: Mapping[str, Any]) -> int:
    """Call each of the task's ``attribute`` callbacks with ``context``; returns how many failed."""
    failed = 0
    for callback in callbacks_of(task, attribute):
        name = getattr(callback, "__qualname__", repr(callback))
        try:
            callback(context)
        except Exception:
            failed += 1
            log.exception("%s %s of task %s raised (ignored)", attribute, name, getattr(task, "task_id", "?"))
    return failed


def has_outcome_callbacks(task: Any, state: TaskInstanceState) -> bool:
    """True if the task has callbacks to run for a try that ended in ``state``."""
    attribute = CALLBACK_FOR_STATE.get(state)
    return bool(attribute and callbacks_of(task, attribute))


def run_outcome_callbacks(task: Any, state: TaskInstanceState, context: Mapping[str, Any]) -> int:
    """Run the callbacks for a committed try outcome (none for reschedules); ``ti.state`` is that outcome."""
    attribute = CALLBACK_FOR_STATE.get(state)
    ti = context.get("ti")
    if attribute and ti is not None:
        try:
            ti.state = state.value
        except AttributeError:  # a read-only task instance view: the callbacks see it as it is
            pass
    return run_callbacks(task, attribute, context) if attribute else 0
