"""Operator behind ``@task.bash``: the function returns the command to run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.bash_runner import BashProcess, build_env
from dagflow.sdk.decorators.base import CallableTaskMixin


class BashDecoratedOperator(CallableTaskMixin, BaseOperator):
    """Calls the function, renders the returned command as a template and runs it in bash."""

    template_fields: Sequence[str] = ("op_args", "op_kwargs", "env", "cwd")
    custom_operator_name = "@task.bash"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        cwd: str | None = None,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | list[int] | None = 99,
        output_processor: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_callable(python_callable, op_args, op_kwargs)
        self.env = env
        self.append_env = append_env
        self.cwd = cwd
        self.output_encoding = output_encoding
        self.skip_on_exit_code = skip_on_exit_code
        self.output_processor = output_processor
        self._process = BashProcess()

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Run the command the function returned; the last output line is the XCom."""
        command = self.call_function(context)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(f"@task.bash {self.task_id!r} must return a non-empty command string, got {command!r}")
        command = self.render_template(command, context)
        last_line = self._process.run(
            command,
            env=build_env(self.env, self.append_env, context),
            cwd=self.cwd,
            output_encoding=self.output_encoding,
            skip_on_exit_code=self.skip_on_exit_code,
        )
        return self.output_processor(last_line) if self.output_processor is not None else last_line

    def on_kill(self) -> None:
        """Kill the bash subprocess."""
        self._process.kill()
