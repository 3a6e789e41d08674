"""Running a script in a container (``ScriptOperator(container_image=…)``, Kestra's Docker task runner).

The script's working directory (input files written, output files collected afterwards by
``ScriptRun`` as for the process runner) is bind-mounted at ``/work`` of a ``docker run --rm``
container, which runs as the worker's user so the files it writes stay readable. The
task's ``env=`` and the ``DAGFLOW_CTX_*`` variables are passed by name (``-e NAME``: the value
comes from the docker client's environment, never from its command line). Before running,
``docker version`` must answer: otherwise the try fails with one line saying Docker is not
reachable and why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dagflow.sdk.script_runner import ScriptError

#: The command inside the container for the interpreters known by name.
CONTAINER_INTERPRETERS: dict[str, list[str]] = {
    "python": ["python"],
    "python3": ["python3"],
    "node": ["node"],
    "bash": ["bash"],
    "sh": ["sh"],
}
#: Where the working directory is mounted in the container.
WORKDIR = "/work"
#: Seconds to wait for ``docker version`` before calling Docker unreachable.
PROBE_TIMEOUT_S = 20.0


class DockerUnavailable(RuntimeError):
    """The docker CLI is missing or its daemon does not answer (one line, with the reason)."""


def container_argv(interpreter: str | Sequence[str]) -> list[str]:
    """The interpreter's command inside the container (its own ``python``, not the worker's)."""
    if isinstance(interpreter, str):
        if interpreter not in CONTAINER_INTERPRETERS:
            known = ", ".join(sorted(CONTAINER_INTERPRETERS))
            raise ScriptError(f"unknown interpreter {interpreter!r} (known: {known}; or pass an argv list)")
        return list(CONTAINER_INTERPRETERS[interpreter])
    argv = [str(part) for part in interpreter]
    if not argv:
        raise ScriptError("interpreter argv list is empty")
    return argv


@dataclass
class ContainerRunner:
    """Builds and guards the ``docker run`` command of one script task."""

    image: str
    docker: str = "docker"
    pull: str = "missing"
    #: ``--name`` of the running container, so ``on_kill`` can remove it.
    name: str = field(default_factory=lambda: f"dagflow-{uuid.uuid4().hex[:12]}")

    def __post_init__(self) -> None:
        if not isinstance(self.image, str) or not self.image.strip() or self.image.startswith("-"):
            raise ScriptError(f"container_image must be an image name, got {self.image!r}")
        if self.pull not in ("missing", "always", "never"):
            raise ScriptError(f"container_pull must be missing, always or never, got {self.pull!r}")

    def command(
        self,
        *,
        workdir: str,
        argv: Sequence[str],
        script_name: str,
        extra_args: Sequence[str],
        env_names: Sequence[str],
    ) -> list[str]:
        """``docker run --rm`` of ``argv + [script] + extra_args`` in ``/work`` with ``workdir`` mounted there."""
        cmd = [self.docker, "run", "--rm", "--name", self.name, "--pull", self.pull, "--init"]
        cmd += ["--user", f"{os.getuid()}:{os.getgid()}", "--volume", f"{workdir}:{WORKDIR}", "--workdir", WORKDIR]
        for name in sorted(set(env_names)):
            cmd += ["--env", name]
        return [*cmd, "--", self.image, *argv, f"{WORKDIR}/{script_name}", *extra_args]

    def client_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The docker client's environment: the worker's (DOCKER_HOST, PATH…) plus the values passed by name."""
        return {**os.environ, **env}

    def check_reachable(self) -> None:
        """Raise ``DockerUnavailable`` unless the docker CLI exists and its daemon answers."""
        if shutil.which(self.docker) is None:
            raise DockerUnavailable(f"Docker is not reachable: no {self.docker!r} command on this worker")
        try:
            probe = subprocess.run(
                [self.docker, "version", "--format", "{{.Server.Version}}"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DockerUnavailable(f"Docker is not reachable: no answer within {PROBE_TIMEOUT_S:.0f}s") from None
        if probe.returncode != 0:
            lines = [line.strip() for line in probe.stderr.splitlines() if line.strip()]
            why = lines[-1] if lines else f"docker version exited {probe.returncode}"
            raise DockerUnavailable(f"Docker is not reachable: {why}")

    def remove(self) -> None:
        """Remove the container if it still runs (after a kill or timeout); errors are ignored."""
        if shutil.which(self.docker) is None:
            return
        subprocess.run(
            [self.docker, "rm", "--force", self.name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
