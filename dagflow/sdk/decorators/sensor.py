"""Operator behind ``@task.sensor``: the function is the poke."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.sdk.decorators.base import CallableTaskMixin
from dagflow.sdk.sensor import BaseSensorOperator, PokeReturnValue


class SensorDecoratedOperator(CallableTaskMixin, BaseSensorOperator):
    """Pokes by calling the function; it returns a bool or a ``PokeReturnValue``."""

    template_fields: Sequence[str] = ("op_args", "op_kwargs")
    custom_operator_name = "@task.sensor"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)
        super().__init__(**kwargs)
        self._set_callable(python_callable, op_args, op_kwargs)

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """One call of the function."""
        result = self.call_function(context)
        return result if isinstance(result, PokeReturnValue) else bool(result)
