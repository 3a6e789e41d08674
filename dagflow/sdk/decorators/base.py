"""The machinery behind ``@task``: a decorator object that builds an operator per call."""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.baseoperator import BaseOperator, resolve_placement
from dagflow.sdk.callables import call_with_context, check_callable
from dagflow.sdk.dag import DAG
from dagflow.sdk.mappedoperator import MappedOperator
from dagflow.sdk.taskgroup import TaskGroup
from dagflow.sdk.xcom_arg import XComArg


class CallableTaskMixin:
    """Fields shared by operators that wrap a decorated function."""

    template_fields: Sequence[str] = ("op_args", "op_kwargs")
    python_callable: Callable[..., Any]
    op_args: Sequence[Any]
    op_kwargs: Mapping[str, Any]
    task_id: str

    def _set_callable(
        self, fn: Callable[..., Any], op_args: Sequence[Any] | None, op_kwargs: Mapping[str, Any] | None
    ) -> None:
        self.python_callable = check_callable(self.task_id, fn)
        self.op_args = list(op_args or ())
        self.op_kwargs = dict(op_kwargs or {})
        try:
            inspect.signature(fn).bind_partial(*self.op_args, **self.op_kwargs)
        except TypeError as exc:
            raise DagDefinitionError(f"task {self.task_id!r}: {exc}") from None

    def call_function(self, context: Mapping[str, Any]) -> Any:
        """Call the decorated function with its (rendered) arguments and context."""
        return call_with_context(self.python_callable, self.op_args, self.op_kwargs, context)


def push_multiple_outputs(context: Mapping[str, Any], task_id: str, result: Any) -> None:
    """Push each key of a dict result as its own XCom (``multiple_outputs=True``)."""
    if not isinstance(result, Mapping):
        raise TypeError(f"task {task_id!r} has multiple_outputs=True but returned {type(result).__name__}, not a dict")
    for key, value in result.items():
        if not isinstance(key, str):
            raise TypeError(f"task {task_id!r}: multiple_outputs keys must be strings, got {key!r}")
        context["ti"].xcom_push(key=key, value=value)


def infer_multiple_outputs(fn: Callable[..., Any]) -> bool:
    """True if ``fn`` is annotated to return a dict/Mapping (Airflow's rule)."""
    try:
        hint = typing.get_type_hints(fn).get("return")
    except Exception:  # noqa: BLE001 - unresolvable annotations: fall back to the raw text
        hint = inspect.signature(fn).return_annotation
        if isinstance(hint, str):
            return bool(re.match(r"^(typing\.)?(dict|Dict|Mapping)\b", hint.strip()))
    origin = typing.get_origin(hint) or hint
    return isinstance(origin, type) and issubclass(origin, Mapping)


def unique_task_id(label: str, dag: DAG | None, group: TaskGroup | None) -> str:
    """``label``, or ``label__N`` when the DAG already has that id (as Airflow numbers ``@task`` ids)."""
    if dag is None:
        return label
    full = group.child_id(label) if group is not None else label
    if full not in dag.task_dict:
        return label
    core = re.split(r"__\d+$", label)[0]
    full_core = re.split(r"__\d+$", full)[0]
    pattern = re.compile(rf"^{re.escape(full_core)}__(\d+)$")
    suffixes = [int(m.group(1)) for tid in dag.task_dict if (m := pattern.match(tid))]
    return f"{core}__{max(suffixes, default=0) + 1}"


class TaskDecorator:
    """A decorated function: calling it adds a task and returns its ``XComArg``."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_class: type[BaseOperator],
        multiple_outputs: bool | None = None,
        kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.function = check_callable(getattr(function, "__name__", "task"), function)
        self.operator_class = operator_class
        self.multiple_outputs = infer_multiple_outputs(function) if multiple_outputs is None else multiple_outputs
        self.kwargs = dict(kwargs or {})
        functools.update_wrapper(self, function)

    def _task_id(self) -> str:
        dag, group = resolve_placement(self.kwargs)
        return unique_task_id(self.kwargs.get("task_id") or self.function.__name__, dag, group)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        op = self.operator_class(
            **{**self.kwargs, "task_id": self._task_id()},
            python_callable=self.function,
            op_args=args,
            op_kwargs=kwargs,
            multiple_outputs=self.multiple_outputs,
        )
        return XComArg(op)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """The same task with some operator arguments changed (``task_id``, ``retries``...)."""
        multiple_outputs = kwargs.pop("multiple_outputs", self.multiple_outputs)
        return TaskDecorator(self.function, self.operator_class, multiple_outputs, {**self.kwargs, **kwargs})

    def partial(self, **kwargs: Any) -> DecoratedPartial:
        """Fix some function arguments for every mapped instance; follow with ``.expand``."""
        return DecoratedPartial(self, kwargs)

    def expand(self, **mapped: Any) -> XComArg:
        """Map the function over lists or XComArgs: one task instance per combination."""
        return DecoratedPartial(self, {}).expand(**mapped)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        """Map over a list of argument dicts (or an XComArg of one): one task instance per dict."""
        return DecoratedPartial(self, {}).expand_kwargs(kwargs_list)


class DecoratedPartial:
    """``@task`` function with some arguments fixed, waiting for ``.expand(**lists)``."""

    def __init__(self, decorator: TaskDecorator, fixed: Mapping[str, Any]) -> None:
        self.decorator = decorator
        self.fixed = dict(fixed)

    def expand(self, **mapped: Any) -> XComArg:
        """Map over ``mapped``; returns the mapped task's XComArg (a list when pulled)."""
        deco = self.decorator
        overlap = set(mapped) & set(self.fixed)
        if overlap:
            raise DagDefinitionError(f"{', '.join(sorted(overlap))} given to both partial() and expand()")
        try:
            inspect.signature(deco.function).bind_partial(**self.fixed, **mapped)
        except TypeError as exc:
            raise DagDefinitionError(f"task {deco.function.__name__!r}: {exc}") from None
        return self._mapped(mapped)

    def expand_kwargs(self, kwargs_list: Any) -> XComArg:
        """Map over a list of argument dicts (or an XComArg of one)."""
        from dagflow.sdk.mappedoperator import EXPAND_KWARGS

        return self._mapped({EXPAND_KWARGS: kwargs_list})

    def _mapped(self, mapped: Mapping[str, Any]) -> XComArg:
        deco = self.decorator
        partial_kwargs = {
            **deco.kwargs,
            "task_id": deco._task_id(),
            "python_callable": deco.function,
            "op_args": [],
            "op_kwargs": self.fixed,
            "multiple_outputs": deco.multiple_outputs,
        }
        mapped_op = MappedOperator(
            deco.operator_class,
            partial_kwargs,
            mapped,
            expand_into="op_kwargs",
            mappable_names=list(inspect.signature(deco.function).parameters),
        )
        return XComArg(mapped_op)


def make_decorator(
    operator_class: type[BaseOperator],
    python_callable: Callable[..., Any] | None,
    multiple_outputs: bool | None,
    kwargs: Mapping[str, Any],
) -> Any:
    """Support both ``@task`` and ``@task(...)`` for ``operator_class``."""
    if python_callable is not None:
        return TaskDecorator(python_callable, operator_class, multiple_outputs, kwargs)
    return lambda fn: TaskDecorator(fn, operator_class, multiple_outputs, kwargs)
