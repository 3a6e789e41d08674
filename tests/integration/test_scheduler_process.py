"""A real ``dagflow scheduler`` process on SQLite with the LocalExecutor, driven through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

DAG_FILE = """
import pathlib, subprocess
from datetime import timedelta
from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator

OUT = pathlib.Path({out!r})

def note(context):
    (OUT / f"callback_{{context['dag_run'].run_id}}").write_text(context["reason"])

def hello():
    (OUT / "hello").write_text("ran")

with DAG("quick", schedule=None, on_success_callback=note):
    PythonOperator(task_id="a", python_callable=hello) >> PythonOperator(task_id="b", python_callable=hello)

with DAG("sleepy", schedule=None):
    BashOperator(task_id="nap", bash_command="sleep {marker}")
"""

MARKER = "417.25"


def _env(home: Path, dags: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DAGFLOW_HOME": str(home),
            "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
            "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
            "DAGFLOW__CORE__EXECUTOR": "LocalExecutor",
            "DAGFLOW__CORE__PARALLELISM": "4",
            "DAGFLOW__CORE__KILLED_TASK_CLEANUP_TIME": "2",
        }
    )
    return env


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dagflow", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path]]:
    dags, out = tmp_path / "dags", tmp_path / "out"
    dags.mkdir()
    out.mkdir()
    (dags / "dags.py").write_text(textwrap.dedent(DAG_FILE.format(out=str(out), marker=MARKER)))
    env = _env(tmp_path / "home", dags)
    (tmp_path / "home").mkdir()
    assert cli(env, "db", "migrate").returncode == 0
    yield env, out


def start_scheduler(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dagflow", "scheduler"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_parsed(env: dict[str, str], dag_id: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        listed = cli(env, "dags", "list", "--no-parse", "--output", "json")
        if listed.returncode == 0 and dag_id in {d["dag_id"] for d in json.loads(listed.stdout or "[]")}:
            return
        time.sleep(0.3)
    raise AssertionError(f"{dag_id} not parsed by the scheduler within {seconds}s")


def trigger(env: dict[str, str], dag_id: str) -> str:
    wait_parsed(env, dag_id)
    assert cli(env, "dags", "unpause", dag_id).returncode == 0
    proc = cli(env, "dags", "trigger", dag_id, "--output", "json")
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout[proc.stdout.find("{") :])["run_id"])


def wait_state(env: dict[str, str], dag_id: str, run_id: str, want: set[str], seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    state = ""
    while time.monotonic() < deadline:
        lines = cli(env, "dags", "state", dag_id, run_id).stdout.strip().splitlines()
        state = lines[-1].strip() if lines else ""
        if state in want:
            return state
        time.sleep(0.3)
    raise AssertionError(f"{dag_id}/{run_id} still {state!r} after {seconds}s")


def marker_processes() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if MARKER in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def test_triggered_run_succeeds_and_runs_the_dag_callback(home: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, out = home
    sched = start_scheduler(env, tmp_path / "scheduler.log")
    try:
        run_id = trigger(env, "quick")
        assert wait_state(env, "quick", run_id, {"success", "failed"}) == "success"
        deadline = time.monotonic() + 30
        while not (out / f"callback_{run_id}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / f"callback_{run_id}").read_text() == "success"
        assert (out / "hello").read_text() == "ran"
    finally:
        assert stop(sched) == 0, (tmp_path / "scheduler.log").read_text()[-2000:]


def test_sigterm_stops_running_tasks_and_leaves_no_process(home: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, _ = home
    sched = start_scheduler(env, tmp_path / "scheduler.log")
    try:
        run_id = trigger(env, "sleepy")
        deadline = time.monotonic() + 30
        while not marker_processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert marker_processes(), "the task never started"
        family = [sched.pid] + [p.pid for p in psutil.Process(sched.pid).children(recursive=True)]
    finally:
        code = stop(sched, timeout=40)
    assert code == 0, (tmp_path / "scheduler.log").read_text()[-2000:]
    time.sleep(0.5)
    assert marker_processes() == []
    alive = [pid for pid in family if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    states = json.loads(cli(env, "tasks", "states-for-dag-run", "sleepy", run_id, "--output", "json").stdout)
    assert states["task_instances"][0]["state"] in ("failed", "up_for_retry")


def test_second_scheduler_on_sqlite_refuses_to_start(home: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, _ = home
    sched = start_scheduler(env, tmp_path / "scheduler.log")
    try:
        deadline = time.monotonic() + 30
        while "dagflow scheduler:" not in (tmp_path / "scheduler.log").read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        second = cli(env, "scheduler", "--num-runs", "1")
        assert second.returncode == 1
        error_lines = [line for line in second.stderr.splitlines() if line.startswith("Error:")]
        assert len(error_lines) == 1 and "only one scheduler may run on SQLite" in error_lines[0]
    finally:
        assert stop(sched) == 0


def test_num_runs_exits_after_that_many_ticks(home: tuple[dict[str, str], Path]) -> None:
    env, _ = home
    proc = cli(env, "scheduler", "--num-runs", "3")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dagflow scheduler stopped." in proc.stderr
