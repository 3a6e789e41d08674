"""``PythonSensor``: poke by calling a Python function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.sdk.callables import call_with_context, check_callable
from dagflow.sdk.sensor import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Done when ``python_callable`` returns a truthy value (or a done ``PokeReturnValue``)."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = check_callable(self.task_id, python_callable)
        self.op_args = list(op_args or ())
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Call the function once."""
        ctx = {**context, "templates_dict": self.templates_dict}
        result = call_with_context(self.python_callable, self.op_args, self.op_kwargs, ctx)
        return result if isinstance(result, PokeReturnValue) else bool(result)
