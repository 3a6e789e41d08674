"""``BashOperator``: run a (templated) bash command; its last output line is the XCom."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.bash_runner import BashProcess, build_env


class BashOperator(BaseOperator):
    """Runs ``bash -c bash_command``; exit code ``skip_on_exit_code`` (99) skips, others fail."""

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_ext: Sequence[str] = (".sh", ".bash")
    ui_color = "#f0ede4"
    never_branches = True

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | list[int] | None = 99,
        cwd: str | None = None,
        output_processor: Callable[[str], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = skip_on_exit_code
        self.cwd = cwd
        self.output_processor = output_processor
        self._process = BashProcess()

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Run the command, streaming its output to the task log; return the last line
        (passed through ``output_processor`` when given)."""
        last_line = self._process.run(
            self.bash_command,
            env=build_env(self.env, self.append_env, context),
            cwd=self.cwd,
            output_encoding=self.output_encoding,
            skip_on_exit_code=self.skip_on_exit_code,
        )
        return self.output_processor(last_line) if self.output_processor is not None else last_line

    def on_kill(self) -> None:
        """Terminate the bash subprocess."""
        self._process.kill()
