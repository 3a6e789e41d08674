"""Python-callable operators: ``PythonOperator``, ``BranchPythonOperator``, ``ShortCircuitOperator``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.branch import push_branch, push_skip_all_descendants, push_skip_direct_downstream
from dagflow.sdk.callables import call_with_context, check_callable
from dagflow.sdk.decorators.base import push_multiple_outputs


class PythonOperator(BaseOperator):
    """Calls ``python_callable(*op_args, **op_kwargs)``; context keys are injected by name."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    ui_color = "#ffefeb"
    never_branches = True

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: Mapping[str, Any] | None = None,
        templates_exts: Sequence[str] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.python_callable = check_callable(self.task_id, python_callable)
        if isinstance(op_args, (str, bytes)) or (op_args is not None and not isinstance(op_args, Sequence)):
            raise DagDefinitionError(f"task {self.task_id!r}: op_args must be a list, got {op_args!r}")
        if op_kwargs is not None and not isinstance(op_kwargs, Mapping):
            raise DagDefinitionError(f"task {self.task_id!r}: op_kwargs must be a dict, got {op_kwargs!r}")
        self.op_args = list(op_args or ())
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)
        self.show_return_value_in_logs = show_return_value_in_logs

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function; its return value becomes the ``return_value`` XCom."""
        result = self.execute_callable({**context, "templates_dict": self.templates_dict})
        if self.multiple_outputs:
            push_multiple_outputs(context, self.task_id, result)
        if self.show_return_value_in_logs:
            print(f"Done. Returned value was: {result!r}"[:2000], flush=True)
        return result

    def execute_callable(self, context: Mapping[str, Any]) -> Any:
        """Call ``python_callable`` with the rendered arguments and the context it asks for."""
        return call_with_context(self.python_callable, self.op_args, self.op_kwargs, context)


class BranchPythonOperator(PythonOperator):
    """The callable returns the task id(s) (or task group ids) to follow; other direct downstream tasks are skipped."""

    ui_color = "#ffd9c9"

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function and record its choice."""
        branches = self.execute_callable({**context, "templates_dict": self.templates_dict})
        push_branch(context, self, branches)
        return branches


class ShortCircuitOperator(PythonOperator):
    """A falsy result skips downstream: every descendant, or with
    ``ignore_downstream_trigger_rules=False`` only the direct downstream tasks."""

    ui_color = "#f7d4c6"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function; record a skip when the result is falsy."""
        condition = self.execute_callable({**context, "templates_dict": self.templates_dict})
        if not condition:
            print(f"Condition is falsy ({condition!r}): skipping downstream tasks", flush=True)
            if self.ignore_downstream_trigger_rules:
                push_skip_all_descendants(context)
            else:
                push_skip_direct_downstream(context)
        return condition
