"""Operators behind ``@task``, ``@task.branch`` and ``@task.short_circuit``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.branch import push_branch, push_skip_all_descendants, push_skip_direct_downstream
from dagflow.sdk.decorators.base import CallableTaskMixin, push_multiple_outputs


class PythonDecoratedOperator(CallableTaskMixin, BaseOperator):
    """Runs a ``@task`` function; with ``multiple_outputs`` pushes each dict key too."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    custom_operator_name = "@task"
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
        self._set_callable(python_callable, op_args, op_kwargs)
        self.templates_dict = templates_dict
        if templates_exts:
            self.template_ext = tuple(templates_exts)
        self.show_return_value_in_logs = show_return_value_in_logs

    def call_function(self, context: Mapping[str, Any]) -> Any:
        """Call the function; ``templates_dict`` (rendered) is in its context, as in Airflow."""
        return super().call_function({**context, "templates_dict": self.templates_dict})

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function; its return value becomes the XCom."""
        result = self.call_function(context)
        if self.multiple_outputs:
            push_multiple_outputs(context, self.task_id, result)
        return result


class BranchDecoratedOperator(PythonDecoratedOperator):
    """``@task.branch``: the function returns the task id(s) to follow."""

    custom_operator_name = "@task.branch"

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function and record the branch it chose."""
        result = self.call_function(context)
        push_branch(context, self, result)
        return result


class ShortCircuitDecoratedOperator(PythonDecoratedOperator):
    """``@task.short_circuit``: a falsy result skips what follows."""

    custom_operator_name = "@task.short_circuit"

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ignore_downstream_trigger_rules = ignore_downstream_trigger_rules

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function; if falsy, record that downstream is skipped."""
        result = self.call_function(context)
        if not result:
            if self.ignore_downstream_trigger_rules:
                push_skip_all_descendants(context)
            else:
                push_skip_direct_downstream(context)
        return result
