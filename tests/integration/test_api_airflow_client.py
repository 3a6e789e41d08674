"""Airflow's own Python client (``apache-airflow-client`` 3.x) drives a real ``dagflow webserver`` process.

A scheduler (LocalExecutor, SQLite) runs beside it. Through the client only: list DAGs,
unpause, trigger with conf, poll the run to success, list its task instances, read a log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

client = pytest.importorskip("airflow_client.client")

DAG_FILE = """
from dagflow import DAG, Param
from dagflow.operators import PythonOperator

def greet(params):
    print(f"hello {params['who']} x{params['times']}")
    return {"greeted": params["who"]}

with DAG("client_dag", schedule=None, tags=["client"],
         params={"who": Param("world", type="string"), "times": Param(1, type="integer")}):
    PythonOperator(task_id="greet", python_callable=greet)
"""
PASSWORD = "client-test-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "dagflow", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@contextmanager
def _process(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagflow", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds}s:\n{log.read_text()}")


def _token(base: str) -> str:
    body = json.dumps({"username": "admin", "password": PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.loads(response.read())["access_token"])


@pytest.mark.slow
def test_airflow_client_drives_a_real_webserver(tmp_path: Path) -> None:
    home, dags = tmp_path / "home", tmp_path / "dags"
    dags.mkdir()
    (dags / "client_dag.py").write_text(textwrap.dedent(DAG_FILE))
    port = free_port()
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        "DAGFLOW__CORE__EXECUTOR": "LocalExecutor",
        "DAGFLOW__CORE__PARALLELISM": "2",
    }
    _cli(env, "db", "migrate")
    _cli(env, "users", "create", "--username", "admin", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    base = f"http://127.0.0.1:{port}"
    with (
        _process(env, tmp_path / "scheduler.log", "scheduler"),
        _process(env, tmp_path / "web.log", "webserver", "--port", str(port), "--workers", "1") as web,
    ):
        _wait_http(f"{base}/api/v2/monitor/health", web, tmp_path / "web.log")
        config = client.Configuration(host=base, access_token=_token(base))
        with client.ApiClient(config) as api_client:
            dag_api = client.DAGApi(api_client)
            runs = client.DagRunApi(api_client)
            tis = client.TaskInstanceApi(api_client)

            deadline = time.monotonic() + 60
            while not dag_api.get_dags(tags=["client"]).dags:
                assert time.monotonic() < deadline, "the scheduler never stored client_dag"
                time.sleep(0.5)
            (dag,) = dag_api.get_dags(tags=["client"]).dags
            assert (dag.dag_id, dag.is_paused) == ("client_dag", True)

            assert dag_api.patch_dag("client_dag", client.DAGPatchBody(is_paused=False)).is_paused is False

            body = client.TriggerDAGRunPostBody(logical_date=None, conf={"who": "airflow-client", "times": 3})
            run = runs.trigger_dag_run("client_dag", body)
            assert run.state.value in ("queued", "running") and run.conf["who"] == "airflow-client"

            deadline = time.monotonic() + 120
            while (state := runs.get_dag_run("client_dag", run.dag_run_id).state.value) != "success":
                assert state in ("queued", "running"), state
                assert time.monotonic() < deadline, f"run still {state}"
                time.sleep(0.5)

            listed = tis.get_task_instances("client_dag", run.dag_run_id)
            assert [(t.task_id, t.state.value, t.try_number) for t in listed.task_instances] == [
                ("greet", "success", 1)
            ]
            log = tis.get_log("client_dag", run.dag_run_id, "greet", 1)
            text = "\n".join(line.event for line in log.content.actual_instance)
            assert "hello airflow-client x3" in text

            # the rest of the shape the client knows: tasks, source, XComs, dependencies, dry runs, backfills
            assert [t.task_id for t in client.TaskApi(api_client).get_tasks("client_dag").tasks] == ["greet"]
            assert "def greet" in (client.DagSourceApi(api_client).get_dag_source("client_dag").content or "")
            xcoms = client.XComApi(api_client)
            assert [x.key for x in xcoms.get_xcom_entries("client_dag", run.dag_run_id, "greet").xcom_entries] == [
                "return_value"
            ]
            entry = xcoms.get_xcom_entry("client_dag", "greet", run.dag_run_id, "return_value")
            assert entry.actual_instance.value == {"greeted": "airflow-client"}
            deps = tis.get_task_instance_dependencies("client_dag", run.dag_run_id, "greet").dependencies
            assert [d.name for d in deps] == ["Task Instance State"]
            dry = tis.patch_task_instance_dry_run(
                "client_dag", run.dag_run_id, "greet", client.PatchTaskInstanceBody(new_state="failed")
            )
            assert [(t.task_id, t.state.value) for t in dry.task_instances] == [("greet", "success")]
            assert client.BackfillApi(api_client).list_backfills("client_dag").total_entries == 0
