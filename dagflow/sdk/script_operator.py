"""``ScriptOperator``: a script in any interpreter, with input and output files through internal storage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.bash_runner import build_env, context_env
from dagflow.sdk.container_runner import ContainerRunner, container_argv
from dagflow.sdk.script_runner import ScriptRun, cached_virtualenv, interpreter_argv, output_prefix, safe_relative


class ScriptOperator(BaseOperator):
    """Runs ``script`` with ``interpreter`` (``"python"``, ``"node"``, ``"bash"``, ``"sh"`` or an argv
    list) in a fresh working directory.

    ``input_files`` (``{name: text or dagflow:// URI}``) are written there first; afterwards the files
    matching ``output_files`` (glob patterns) go to internal storage and ``{relative path: URI}`` is
    the XCom. Python with ``requirements`` (even ``[]``) runs in a virtualenv cached under
    ``$DAGFLOW_HOME/venvs``, keyed by the sorted requirements. With ``container_image`` the
    script runs in ``docker run --rm`` of that image instead (the working directory mounted at
    ``/work``; ``env`` and the ``DAGFLOW_CTX_*`` variables passed; ``container_pull``:
    ``missing``, ``always`` or ``never``).
    A non-zero exit fails the task; output is streamed to the task log.
    """

    template_fields: Sequence[str] = ("script", "env", "input_files", "args", "container_image")
    template_ext: Sequence[str] = (".py", ".js", ".sh")
    ui_color = "#e8f0e4"

    def __init__(
        self,
        *,
        script: str,
        interpreter: str | Sequence[str] = "python",
        requirements: Sequence[str] | None = None,
        input_files: Mapping[str, Any] | None = None,
        output_files: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        args: Sequence[str] | None = None,
        system_site_packages: bool = False,
        pip_install_options: Sequence[str] | None = None,
        output_encoding: str = "utf-8",
        container_image: str | None = None,
        container_pull: str = "missing",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(script, str) or not script.strip():
            raise ValueError(f"task {self.task_id!r}: script must be a non-empty string")
        self._argv, self._suffix = interpreter_argv(interpreter)
        self.requirements = None if requirements is None else list(requirements)
        if self.requirements is not None and interpreter not in ("python", "python3"):
            raise ValueError(f"task {self.task_id!r}: requirements= needs interpreter='python'")
        if isinstance(output_files, str):
            output_files = [output_files]
        self.script = script
        self.interpreter = interpreter
        self.input_files = dict(input_files or {})
        for name in self.input_files:
            safe_relative(str(name))
        self.output_files = [safe_relative(p) for p in (output_files or [])]
        self.env = env
        self.append_env = append_env
        self.args = list(args or [])
        self.system_site_packages = system_site_packages
        self.pip_install_options = list(pip_install_options or [])
        self.output_encoding = output_encoding
        self.container_image = container_image
        self.container_pull = container_pull
        if container_image is not None:
            if self.requirements is not None:
                raise ValueError(
                    f"task {self.task_id!r}: requirements= builds a local virtualenv; "
                    "with container_image, install them in the image"
                )
            ContainerRunner(container_image, pull=container_pull)  # check the image name and pull policy now
            container_argv(interpreter)
        self._run = ScriptRun()
        self._container: ContainerRunner | None = None

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Run the script; the stored output files ``{name: uri}`` are the XCom."""
        if self.container_image is not None:
            return self._execute_in_container(context)
        argv = list(self._argv)
        if self.requirements is not None:
            home = context["conf"].home
            argv[0] = str(
                cached_virtualenv(
                    home,
                    self.requirements,
                    system_site_packages=self.system_site_packages,
                    pip_install_options=self.pip_install_options,
                )
            )
        outputs, _ = self._run.run(
            argv=argv,
            script=self.script,
            suffix=self._suffix,
            env=build_env(self.env, self.append_env, context),
            input_files=self.input_files,
            output_files=self.output_files,
            storage=context.get("storage"),
            output_prefix=output_prefix(context, self.task_id),
            extra_args=[str(a) for a in self.args],
            output_encoding=self.output_encoding,
        )
        return outputs

    def _execute_in_container(self, context: Mapping[str, Any]) -> Any:
        assert self.container_image is not None
        self._container = ContainerRunner(self.container_image, pull=self.container_pull)
        self._container.check_reachable()
        env = {str(k): str(v) for k, v in (self.env or {}).items()} | context_env(context)
        outputs, _ = self._run.run(
            argv=container_argv(self.interpreter),
            script=self.script,
            suffix=self._suffix,
            env=env,
            input_files=self.input_files,
            output_files=self.output_files,
            storage=context.get("storage"),
            output_prefix=output_prefix(context, self.task_id),
            extra_args=[str(a) for a in self.args],
            output_encoding=self.output_encoding,
            container=self._container,
        )
        return outputs

    def on_kill(self) -> None:
        """Terminate the script's process (and remove its container, if it runs in one)."""
        self._run.kill()
        if self._container is not None:
            self._container.remove()
