"""TaskFlow decorators: ``@task`` and its variants ``.branch``, ``.short_circuit``, ``.bash``, ``.script``, ``.virtualenv``, ``.external_python``, ``.sensor``.

Must not import operators/sensors packages (they sit above the SDK): the operators behind
the decorators live here, built on the SDK's shared pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dagflow.sdk.decorators.base import DecoratedPartial, TaskDecorator, make_decorator
from dagflow.sdk.decorators.bash import BashDecoratedOperator
from dagflow.sdk.decorators.python import (
    BranchDecoratedOperator,
    PythonDecoratedOperator,
    ShortCircuitDecoratedOperator,
)
from dagflow.sdk.decorators.script import (
    ExternalPythonDecoratedOperator,
    PythonVirtualenvDecoratedOperator,
    ScriptDecoratedOperator,
)
from dagflow.sdk.decorators.sensor import SensorDecoratedOperator


class TaskDecoratorCollection:
    """The ``task`` object: ``@task``, ``@task(...)``, ``@task.branch``, ``@task.bash``..."""

    def __call__(
        self, python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any
    ) -> Any:
        return self.python(python_callable, multiple_outputs, **kwargs)

    def python(
        self, python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any
    ) -> Any:
        """A task that runs the function; its return value is the XCom."""
        return make_decorator(PythonDecoratedOperator, python_callable, multiple_outputs, kwargs)

    def branch(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A branch: the function returns the task id(s) (or group ids) to follow."""
        return make_decorator(BranchDecoratedOperator, python_callable, False, kwargs)

    def short_circuit(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A short-circuit: a falsy return value skips the downstream tasks."""
        return make_decorator(ShortCircuitDecoratedOperator, python_callable, False, kwargs)

    def bash(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A bash task: the function returns the command to run."""
        multiple_outputs = bool(kwargs.pop("multiple_outputs", False))
        return make_decorator(BashDecoratedOperator, python_callable, multiple_outputs, kwargs)

    def script(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A script task: the function returns the script, run like ``ScriptOperator`` (``interpreter=``, files)."""
        return make_decorator(ScriptDecoratedOperator, python_callable, False, kwargs)

    def virtualenv(
        self, python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any
    ) -> Any:
        """The function runs in a cached virtualenv with ``requirements=[...]``; args and result as JSON."""
        return make_decorator(PythonVirtualenvDecoratedOperator, python_callable, multiple_outputs, kwargs)

    def external_python(
        self, python_callable: Callable[..., Any] | None = None, multiple_outputs: bool | None = None, **kwargs: Any
    ) -> Any:
        """The function runs in the interpreter ``python=PATH``; args and result as JSON."""
        return make_decorator(ExternalPythonDecoratedOperator, python_callable, multiple_outputs, kwargs)

    def sensor(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A sensor: the function is the poke (returns a bool or a ``PokeReturnValue``)."""
        return make_decorator(SensorDecoratedOperator, python_callable, False, kwargs)


task = TaskDecoratorCollection()


class SetupTeardownDecorator:
    """``@setup`` / ``@teardown`` over a function or an ``@task``-style decorated one."""

    def __init__(self, inner: TaskDecorator, *, teardown: bool, on_failure_fail_dagrun: bool = False) -> None:
        self.inner = inner
        self.teardown = teardown
        self.on_failure_fail_dagrun = on_failure_fail_dagrun

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        arg = self.inner(*args, **kwargs)
        if self.teardown:
            return arg.as_teardown(on_failure_fail_dagrun=self.on_failure_fail_dagrun)
        return arg.as_setup()

    def override(self, **kwargs: Any) -> SetupTeardownDecorator:
        """The same setup/teardown task with some operator arguments changed."""
        return SetupTeardownDecorator(
            self.inner.override(**kwargs), teardown=self.teardown, on_failure_fail_dagrun=self.on_failure_fail_dagrun
        )


def _as_task_decorator(func: Callable[..., Any] | TaskDecorator) -> TaskDecorator:
    return func if isinstance(func, TaskDecorator) else task.python(func)


def setup(func: Callable[..., Any] | TaskDecorator) -> SetupTeardownDecorator:
    """``@setup``: a task that prepares a resource; pair it with a teardown."""
    return SetupTeardownDecorator(_as_task_decorator(func), teardown=False)


def teardown(func: Callable[..., Any] | TaskDecorator | None = None, *, on_failure_fail_dagrun: bool = False) -> Any:
    """``@teardown``: a task that releases a resource; runs even if the work failed (when a setup succeeded)."""

    def wrap(fn: Callable[..., Any] | TaskDecorator) -> SetupTeardownDecorator:
        return SetupTeardownDecorator(
            _as_task_decorator(fn), teardown=True, on_failure_fail_dagrun=on_failure_fail_dagrun
        )

    return wrap(func) if func is not None else wrap


__all__ = [
    "DecoratedPartial",
    "SetupTeardownDecorator",
    "TaskDecorator",
    "TaskDecoratorCollection",
    "setup",
    "task",
    "teardown",
]
