"""Running a script in any interpreter (``ScriptOperator``, ``@task.script``, ``@task.virtualenv``,
``@task.external_python``): a fresh working directory, input files in, output files to internal
storage, and Python requirements in a cached virtualenv under ``$DAGFLOW_HOME/venvs``.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagflow.sdk.bash_runner import BashProcess

if TYPE_CHECKING:
    from dagflow.sdk.container_runner import ContainerRunner

#: Interpreters known by name: the command line, and the suffix of the script file.
INTERPRETERS: dict[str, tuple[list[str], str]] = {
    "python": ([sys.executable], ".py"),
    "python3": ([sys.executable], ".py"),
    "node": (["node"], ".js"),
    "bash": (["bash"], ".sh"),
    "sh": (["sh"], ".sh"),
}
STORAGE_PREFIX = "dagflow://"
_READY = ".dagflow-ready"


class ScriptError(ValueError):
    """A script task is set up wrongly (unknown interpreter, bad file name)."""


def interpreter_argv(interpreter: str | Sequence[str]) -> tuple[list[str], str]:
    """The command line for ``interpreter`` (a known name or an argv list) and the script's suffix."""
    if isinstance(interpreter, str):
        if interpreter not in INTERPRETERS:
            known = ", ".join(sorted(INTERPRETERS))
            raise ScriptError(f"unknown interpreter {interpreter!r} (known: {known}; or pass an argv list)")
        argv, suffix = INTERPRETERS[interpreter]
        return list(argv), suffix
    argv = [str(part) for part in interpreter]
    if not argv:
        raise ScriptError("interpreter argv list is empty")
    return argv, ""


def safe_relative(name: str) -> str:
    """``name`` if it is a relative path that stays inside the working directory."""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or any(part in ("..", "") for part in parts):
        raise ScriptError(f"file name {name!r} must be a relative path inside the working directory")
    return name


def venv_key(requirements: Sequence[str], python: str, system_site_packages: bool) -> str:
    """The cache key of a virtualenv: the base interpreter and the sorted requirements."""
    text = "\n".join([os.path.realpath(python), str(system_site_packages), *sorted(r.strip() for r in requirements)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def cached_virtualenv(
    home: str | Path,
    requirements: Sequence[str],
    *,
    python: str = sys.executable,
    system_site_packages: bool = False,
    pip_install_options: Sequence[str] = (),
) -> Path:
    """The python of a virtualenv with ``requirements`` installed, built once under ``home/venvs``.

    A file lock makes a second worker wait for the first one's build instead of building
    it again; a build that failed half way (no ready marker) is thrown away and redone.
    """
    root = Path(home) / "venvs"
    venv = root / venv_key(requirements, python, system_site_packages)
    bin_python = venv / "bin" / "python"
    with _file_lock(root / f"{venv.name}.lock"):
        if (venv / _READY).exists():
            return bin_python
        shutil.rmtree(venv, ignore_errors=True)
        print(f"Building virtualenv {venv} for requirements {sorted(requirements)}", flush=True)
        cmd = [python, "-m", "venv", str(venv)]
        if system_site_packages:
            cmd.append("--system-site-packages")
        if not requirements:
            cmd.append("--without-pip")
        _checked(cmd, "creating the virtualenv")
        if requirements:
            pip = [str(bin_python), "-m", "pip", "install", "-q", *pip_install_options, *requirements]
            _checked(pip, "installing requirements")
        (venv / _READY).write_text("\n".join(sorted(requirements)) + "\n")
    return bin_python


def _checked(cmd: list[str], what: str) -> None:
    result = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    if result.stdout:
        print(result.stdout, end="", flush=True)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit code {result.returncode}): {result.stderr.strip()[-2000:]}")


class ScriptRun:
    """One script run: working directory, inputs, subprocess, outputs."""

    def __init__(self) -> None:
        self.process = BashProcess()

    def run(
        self,
        *,
        argv: list[str],
        script: str,
        suffix: str,
        env: Mapping[str, str],
        input_files: Mapping[str, Any],
        output_files: Sequence[str],
        storage: Any,
        output_prefix: str,
        extra_args: Sequence[str] = (),
        output_encoding: str = "utf-8",
        keep: Mapping[str, str] | None = None,
        container: ContainerRunner | None = None,
    ) -> tuple[dict[str, str], dict[str, bytes]]:
        """Run ``argv + [script file] + extra_args`` in a fresh directory.

        Returns the output files stored (``{relative path: dagflow:// URI}``) and the bytes of
        the files named in ``keep`` (``{label: relative path}``, read before the directory goes).
        With ``container``, ``argv`` runs in it (``docker run``, the directory mounted) with the
        variables of ``env`` passed by name. A non-zero exit raises ``RuntimeError``.
        """
        with tempfile.TemporaryDirectory(prefix="dagflow-script-") as tmp:
            workdir = Path(tmp)
            for name, content in input_files.items():
                target = workdir / safe_relative(str(name))
                target.parent.mkdir(parents=True, exist_ok=True)
                if isinstance(content, str) and content.startswith(STORAGE_PREFIX):
                    target.write_bytes(_storage(storage).get_bytes(content))
                elif isinstance(content, bytes):
                    target.write_bytes(content)
                else:
                    target.write_text(str(content))
            script_path = workdir / f".dagflow_script{suffix}"
            script_path.write_text(script)
            command, run_env = [*argv, str(script_path), *extra_args], env
            if container is not None:
                command = container.command(
                    workdir=tmp, argv=argv, script_name=script_path.name, extra_args=extra_args, env_names=list(env)
                )
                run_env = container.client_env(env)
            code, _ = self.process.run_argv(command, env=run_env, cwd=tmp, output_encoding=output_encoding)
            if code != 0:
                raise RuntimeError(f"script failed: exit code {code}")
            outputs: dict[str, str] = {}
            for pattern in output_files:
                matches = sorted(glob.glob(safe_relative(pattern), root_dir=tmp, recursive=True))
                files = [m for m in matches if (workdir / m).is_file() and not m.startswith(".dagflow_")]
                if not files:
                    print(f"output_files pattern {pattern!r} matched no file", flush=True)
                for rel in files:
                    outputs[rel] = _storage(storage).put_file(workdir / rel, f"{output_prefix}/{rel}")
            kept = {label: (workdir / rel).read_bytes() for label, rel in (keep or {}).items()}
        return outputs, kept

    def kill(self) -> None:
        """Stop the script's process."""
        self.process.kill()


def _storage(storage: Any) -> Any:
    if storage is None:
        raise ScriptError("input/output files need internal storage (context['storage']), which is not available")
    return storage


def output_prefix(context: Mapping[str, Any], task_id: str) -> str:
    """Where a task instance's output files go in the run's storage: ``task_id[/map_index]/try_N``."""
    map_index = context.get("map_index", -1)
    prefix = task_id if map_index is None or map_index < 0 else f"{task_id}/{map_index}"
    return f"{prefix}/try_{context.get('try_number', 1)}"
