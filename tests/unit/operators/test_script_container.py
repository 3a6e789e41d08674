"""The container runner of ``ScriptOperator(container_image=…)``: the ``docker run`` command, the
one-line error when Docker is not reachable (a real try), and a real container run where Docker works."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pendulum
import pytest

from dagflow import DAG
from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.execution.logs import read_log
from dagflow.operators import ScriptOperator
from dagflow.sdk import task
from dagflow.sdk.container_runner import ContainerRunner, DockerUnavailable, container_argv
from dagflow.sdk.script_runner import ScriptError
from dagflow.services.xcoms import get_xcom
from dagflow.storage.internal import InternalStorage
from dagflow.testing import run_dag


def _docker_works() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


def test_the_docker_run_command_mounts_the_workdir_and_passes_env_by_name() -> None:
    runner = ContainerRunner("python:3.12-slim", name="dagflow-test")
    cmd = runner.command(
        workdir="/tmp/dagflow-script-x",
        argv=container_argv("python"),
        script_name=".dagflow_script.py",
        extra_args=["--day", "2024-03-05"],
        env_names=["TOKEN", "DAGFLOW_CTX_TASK_ID", "TOKEN"],
    )
    assert cmd == [
        "docker", "run", "--rm", "--name", "dagflow-test", "--pull", "missing", "--init",
        "--user", f"{os.getuid()}:{os.getgid()}",
        "--volume", "/tmp/dagflow-script-x:/work", "--workdir", "/work",
        "--env", "DAGFLOW_CTX_TASK_ID", "--env", "TOKEN",
        "--", "python:3.12-slim", "python", "/work/.dagflow_script.py", "--day", "2024-03-05",
    ]  # fmt: skip
    assert "secret" not in " ".join(cmd)  # values travel in the client's environment, not argv
    assert runner.client_env({"TOKEN": "secret"})["TOKEN"] == "secret"
    assert container_argv(["Rscript", "--vanilla"]) == ["Rscript", "--vanilla"]
    assert container_argv("node") == ["node"]


def test_bad_container_settings_are_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ScriptError, match="container_pull must be missing, always or never"):
        ScriptOperator(
            task_id="a", script="true", interpreter="sh", container_image="alpine", container_pull="sometimes"
        )
    with pytest.raises(ScriptError, match="container_image must be an image name"):
        ScriptOperator(task_id="b", script="true", interpreter="sh", container_image="--privileged")
    with pytest.raises(ValueError, match="install them in the image"):
        ScriptOperator(task_id="c", script="pass", requirements=["requests"], container_image="python:3.12")


def test_an_unreachable_docker_fails_the_try_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if _docker_works():
        monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such-docker.sock")
    elif shutil.which("docker") is None:
        monkeypatch.setenv("PATH", str(tmp_path))  # neither CLI nor daemon: the other line
    with pytest.raises(DockerUnavailable) as raised:
        ContainerRunner("alpine").check_reachable()
    line = str(raised.value)
    assert line.startswith("Docker is not reachable: ") and "\n" not in line

    (tmp_path / "home").mkdir()
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path / "home")})
    with DAG("boxed", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:
        ScriptOperator(task_id="in_box", interpreter="sh", script="echo hi", container_image="alpine")
    db = Database(settings)
    try:
        report = run_dag(dag, settings=settings, db=db)
    finally:
        db.dispose()
    assert report.task_states == {"in_box": "failed"}
    log = read_log(
        settings.logging.base_log_folder, dag_id="boxed", run_id=report.run_id, task_id="in_box", try_number=1
    )
    failed = [entry for entry in log.splitlines() if "task failed:" in entry]
    assert len(failed) == 1 and failed[0].endswith(line), log  # the try's reason: that one line


@pytest.mark.skipif(not _docker_works(), reason="needs a reachable Docker daemon (`docker info`)")
def test_a_script_runs_in_a_container_with_files_in_and_out(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path / "home")})
    with DAG("boxed_real", schedule=None, start_date=pendulum.datetime(2024, 1, 1)) as dag:

        @task.script(interpreter="sh", container_image="busybox:stable", output_files=["out/*.txt"], env={"N": "3"})
        def count() -> str:
            return 'mkdir -p out; wc -l < in.txt > out/lines.txt; echo "$N $DAGFLOW_CTX_TASK_ID" > out/env.txt'

        count.override(input_files={"in.txt": "a\nb\nc\n"})()
    db = Database(settings)
    try:
        report = run_dag(dag, settings=settings, db=db)
        files = get_xcom(settings, db, dag_id="boxed_real", run_id=report.run_id, task_id="count").value
    finally:
        db.dispose()
    assert report.task_states == {"count": "success"}
    storage = InternalStorage(settings.storage.url, dag_id="boxed_real", run_id=report.run_id)
    assert storage.get_bytes(files["out/lines.txt"]).strip() == b"3"
    assert storage.get_bytes(files["out/env.txt"]).strip() == b"3 count"
