"""Operators behind ``@task.script``, ``@task.virtualenv`` and ``@task.external_python``."""

from __future__ import annotations

import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from dagflow.exceptions import DagDefinitionError
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.bash_runner import build_env
from dagflow.sdk.decorators.base import CallableTaskMixin, push_multiple_outputs
from dagflow.sdk.script_operator import ScriptOperator
from dagflow.sdk.script_runner import ScriptRun, cached_virtualenv, output_prefix

_ARGS_FILE = ".dagflow_args.json"
_RETURN_FILE = ".dagflow_return.json"
_RUNNER = """
import json as _dagflow_json
import sys as _dagflow_sys

with open(_dagflow_sys.argv[1]) as _fh:
    _dagflow_in = _dagflow_json.load(_fh)
_dagflow_result = {name}(*_dagflow_in["args"], **_dagflow_in["kwargs"])
try:
    _dagflow_text = _dagflow_json.dumps(_dagflow_result)
except TypeError as _exc:
    raise SystemExit(f"the return value of {name}() is not JSON: {{_exc}}")
with open(_dagflow_sys.argv[2], "w") as _fh:
    _fh.write(_dagflow_text)
"""


class ScriptDecoratedOperator(CallableTaskMixin, ScriptOperator):
    """``@task.script``: the function returns the script text, run as ``ScriptOperator`` runs it."""

    template_fields: Sequence[str] = ("op_args", "op_kwargs", "env", "input_files", "args")
    custom_operator_name = "@task.script"

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("multiple_outputs", None)
        super().__init__(script="# returned by the function at run time", **kwargs)
        self._set_callable(python_callable, op_args, op_kwargs)

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Call the function for the script, render it, and run it."""
        script = self.call_function(context)
        if not isinstance(script, str) or not script.strip():
            raise TypeError(f"@task.script {self.task_id!r} must return a non-empty script string, got {script!r}")
        self.script = self.render_template(script, context)
        return super().execute(context)


def function_source(fn: Callable[..., Any], task_id: str) -> str:
    """The source of ``fn`` without its decorators, dedented, to run in another interpreter."""
    try:
        source = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as exc:
        raise DagDefinitionError(f"task {task_id!r}: cannot read the source of {fn!r}: {exc}") from None
    lines = source.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(("def ", "async def "))), None)
    if start is None or fn.__name__ == "<lambda>":
        raise DagDefinitionError(f"task {task_id!r}: the function must be a plain 'def' (not a lambda)")
    return "\n".join(lines[start:]) + "\n"


class _PythonInOtherInterpreter(CallableTaskMixin, BaseOperator):
    """Runs the function's source in another Python: args in as JSON, the return value out as JSON."""

    template_fields: Sequence[str] = ("op_args", "op_kwargs", "env")

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        append_env: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._set_callable(python_callable, op_args, op_kwargs)
        self.source = function_source(python_callable, self.task_id)
        self.env = env
        self.append_env = append_env
        self._run = ScriptRun()

    def python_path(self, context: Mapping[str, Any]) -> str:
        """The interpreter to run the function in."""
        raise NotImplementedError

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Run the function in the other interpreter; its (JSON) return value is the XCom."""
        try:
            args_text = json.dumps({"args": list(self.op_args), "kwargs": dict(self.op_kwargs)})
        except TypeError as exc:
            raise TypeError(f"task {self.task_id!r}: arguments must be JSON-serializable: {exc}") from None
        name = self.python_callable.__name__
        _, kept = self._run.run(
            argv=[self.python_path(context)],
            # annotations stay unevaluated: names they use (``Any``...) need not exist over there
            script="from __future__ import annotations\n" + self.source + _RUNNER.format(name=name),
            suffix=".py",
            env=build_env(self.env, self.append_env, context),
            input_files={_ARGS_FILE: args_text},
            output_files=[],
            storage=context.get("storage"),
            output_prefix=output_prefix(context, self.task_id),
            extra_args=[_ARGS_FILE, _RETURN_FILE],
            keep={"return": _RETURN_FILE},
        )
        result = json.loads(kept["return"])
        if self.multiple_outputs:
            push_multiple_outputs(context, self.task_id, result)
        return result

    def on_kill(self) -> None:
        """Terminate the interpreter."""
        self._run.kill()


class PythonVirtualenvDecoratedOperator(_PythonInOtherInterpreter):
    """``@task.virtualenv``: the function runs in a virtualenv with ``requirements`` (cached, built once)."""

    custom_operator_name = "@task.virtualenv"

    def __init__(
        self,
        *,
        requirements: Sequence[str] | None = None,
        system_site_packages: bool = False,
        pip_install_options: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(requirements, str):
            requirements = [line for line in requirements.splitlines() if line.strip()]
        self.requirements = list(requirements or [])
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])

    def python_path(self, context: Mapping[str, Any]) -> str:
        """The cached virtualenv's python (built on first use)."""
        return str(
            cached_virtualenv(
                context["conf"].home,
                self.requirements,
                system_site_packages=self.system_site_packages,
                pip_install_options=self.pip_install_options,
            )
        )


class ExternalPythonDecoratedOperator(_PythonInOtherInterpreter):
    """``@task.external_python(python=PATH)``: the function runs in an existing interpreter."""

    custom_operator_name = "@task.external_python"

    def __init__(self, *, python: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not python:
            raise DagDefinitionError(f"task {self.task_id!r}: @task.external_python needs python=PATH")
        self.python = str(python)

    def python_path(self, context: Mapping[str, Any]) -> str:
        """The configured interpreter."""
        return self.python
