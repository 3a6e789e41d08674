"""TaskFlow decorators: ``@task`` and its variants ``.branch``, ``.short_circuit``, ``.bash``, ``.sensor``.

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
        return make_decorator(BashDecoratedOperator, python_callable, False, kwargs)

    def sensor(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """A sensor: the function is the poke (returns a bool or a ``PokeReturnValue``)."""
        return make_decorator(SensorDecoratedOperator, python_callable, False, kwargs)


task = TaskDecoratorCollection()

__all__ = ["DecoratedPartial", "TaskDecorator", "TaskDecoratorCollection", "task"]
