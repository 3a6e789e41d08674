"""``get_current_context()``: the context of the task that is running in this process (Airflow's name)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from dagflow.exceptions import DagflowError

_contexts: list[Mapping[str, Any]] = []


class NoCurrentContext(DagflowError, RuntimeError):
    """``get_current_context()`` was called outside a running task."""


def get_current_context() -> Mapping[str, Any]:
    """The context dict of the running task (``ti``, ``ds``, ``params``...); only while it executes."""
    if not _contexts:
        raise NoCurrentContext(
            "get_current_context() works only while a task runs (inside execute() or a @task function)"
        )
    return _contexts[-1]


@contextmanager
def set_current_context(context: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Make ``context`` the current one for the duration of the block (the task runner does this)."""
    _contexts.append(context)
    try:
        yield context
    finally:
        _contexts.pop()
