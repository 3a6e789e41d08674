"""``BashSensor``: poke by running a bash command; exit code 0 means done."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.exceptions import FailTask
from dagflow.sdk.bash_runner import BashProcess, build_env
from dagflow.sdk.sensor import BaseSensorOperator


class BashSensor(BaseSensorOperator):
    """Done when ``bash_command`` exits 0; ``retry_exit_code`` keeps poking, any other code fails."""

    template_fields: Sequence[str] = ("bash_command", "env")

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        output_encoding: str = "utf-8",
        retry_exit_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = env
        self.output_encoding = output_encoding
        self.retry_exit_code = retry_exit_code
        self._process = BashProcess()

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Run the command once."""
        try:
            self._process.run(
                self.bash_command,
                env=build_env(self.env, False, context),
                output_encoding=self.output_encoding,
                skip_on_exit_code=None,
            )
        except RuntimeError as exc:
            code = self._process.process.returncode if self._process.process is not None else None
            if self.retry_exit_code is None or code == self.retry_exit_code:
                print(f"command exited with code {code}: not done yet", flush=True)
                return False
            raise FailTask(f"bash command exited with code {code} (not the retry code {self.retry_exit_code})") from exc
        return True

    def on_kill(self) -> None:
        """Kill the bash subprocess."""
        self._process.kill()
