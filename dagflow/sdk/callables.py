"""Calling user functions with the task context injected by parameter name (like Airflow)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError


def determine_kwargs(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], context: Mapping[str, Any]
) -> dict[str, Any]:
    """Keyword arguments for ``fn(*args, **result)``: ``kwargs`` plus the context keys it asks for.

    A parameter named like a context key (``ti``, ``ds``, ``params``...) receives it; a
    ``**kwargs`` parameter receives the whole context. Parameters already filled by
    ``args`` are never injected.
    """
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    filled = {p.name for p in positional[: len(args)]}
    clash = filled & set(kwargs)
    if clash:
        raise DagDefinitionError(f"{_name(fn)}: argument(s) {', '.join(sorted(clash))} given twice")
    if any(p.kind is p.VAR_KEYWORD for p in params):
        injected = {k: v for k, v in context.items() if k not in filled}
    else:
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        injected = {k: v for k, v in context.items() if k in accepted and k not in filled}
    return {**injected, **kwargs}


def call_with_context(
    fn: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any], context: Mapping[str, Any]
) -> Any:
    """Call ``fn`` with ``args``, ``kwargs`` and the context values it asks for; an ``async def``
    function is run to its end in an event loop of its own (as Airflow runs async tasks)."""
    result = fn(*args, **determine_kwargs(fn, args, kwargs, context))
    if inspect.iscoroutine(result):
        from dagflow.sdk.aio import run_to_end

        return run_to_end(result)
    return result


def check_callable(task_id: str, fn: object) -> Callable[..., Any]:
    """``fn`` if it is callable, else a ``DagDefinitionError`` naming the task."""
    if not callable(fn):
        raise DagDefinitionError(f"task {task_id!r}: python_callable must be callable, got {fn!r}")
    return fn


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
