"""Running a bash command for BashOperator and ``@task.bash``: stream output, map exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from typing import Any, TextIO

from dagflow.exceptions import SkipTask

_CONTEXT_ENV = (
    ("DAGFLOW_CTX_DAG_ID", "dag_id"),
    ("DAGFLOW_CTX_TASK_ID", "task_id"),
    ("DAGFLOW_CTX_RUN_ID", "run_id"),
    ("DAGFLOW_CTX_TRY_NUMBER", "try_number"),
    ("DAGFLOW_CTX_MAP_INDEX", "map_index"),
)


def context_env(context: Mapping[str, Any]) -> dict[str, str]:
    """``DAGFLOW_CTX_*`` variables describing the running task instance."""
    ti = context.get("ti")
    env: dict[str, str] = {}
    for name, attr in _CONTEXT_ENV:
        value = getattr(ti, attr, None)
        if value is not None:
            env[name] = str(value)
    return env


def build_env(env: Mapping[str, Any] | None, append_env: bool, context: Mapping[str, Any]) -> dict[str, str]:
    """The subprocess environment: ``env`` alone, or on top of ``os.environ`` when asked or unset.

    Values are passed as text (a natively rendered ``"{{ params.n }}"`` may be an int).
    """
    base = dict(os.environ) if env is None or append_env else {}
    base.update({str(name): str(value) for name, value in (env or {}).items()})
    base.update(context_env(context))
    return base


class BashProcess:
    """One ``bash -c`` subprocess in the caller's process group (so a timeout kills it too)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def run(
        self,
        command: str,
        *,
        env: Mapping[str, str],
        cwd: str | None = None,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | list[int] | None = 99,
        out: TextIO | None = None,
    ) -> str:
        """Run ``command``; return its last output line; exit code to skip → ``SkipTask``."""
        if not isinstance(command, str) or not command.strip():
            raise ValueError(f"bash command must be a non-empty string, got {command!r}")
        if cwd is not None and not os.path.isdir(cwd):
            raise ValueError(f"cwd {cwd!r} does not exist or is not a directory")
        with tempfile.TemporaryDirectory(prefix="dagflow-bash-") as tmp:
            code, last_line = self.run_argv(
                ["bash", "-c", command], env=env, cwd=cwd or tmp, output_encoding=output_encoding, out=out
            )
        skip_codes = [skip_on_exit_code] if isinstance(skip_on_exit_code, int) else list(skip_on_exit_code or [])
        if code in skip_codes:
            raise SkipTask(f"bash command exited with code {code}: skipping")
        if code != 0:
            raise RuntimeError(f"bash command failed: exit code {code}")
        return last_line

    def run_argv(
        self,
        argv: list[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        output_encoding: str = "utf-8",
        out: TextIO | None = None,
    ) -> tuple[int, str]:
        """Run ``argv`` in ``cwd``, streaming stdout+stderr line by line to ``out`` (the task log);
        return its exit code and last output line."""
        out = out if out is not None else sys.stdout
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=dict(env),
        )
        last_line = ""
        assert self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            line = raw.decode(output_encoding, errors="backslashreplace").rstrip("\n")
            out.write(line + "\n")
            out.flush()
            last_line = line
        return self.process.wait(), last_line

    def kill(self, grace_seconds: float = 5.0) -> None:
        """Stop the subprocess: SIGTERM, then SIGKILL after ``grace_seconds``."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
