"""A task process reused for several tries (``core.max_tries_per_child``): real LocalExecutor
workers, real forks. What one try does must not reach the next one."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.execution.logs import log_path
from dagflow.execution.reused_process import rss_mb
from dagflow.executors.local import LocalExecutor
from dagflow.models import TaskInstance
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DagRunState, TaskInstanceState
from tests.integration.test_local_executor import children_now, run_until_finished, trigger, workers

DAG_FILE = """
import json, os, signal, sys, threading, time
from datetime import timedelta
from dagflow import DAG
from dagflow.operators import PythonOperator

OUT = {out!r}
DB = {db!r}
COUNTER = 0


def report(name, **extra):
    row = dict(task=name, pid=os.getpid(), env=os.environ.get("DAGFLOW_TEST_LEAK"), cwd=os.getcwd(),
               path="/leaked/path" in sys.path, counter=COUNTER, **extra)
    print(f"hello from {{name}}")
    with open(OUT, "a") as fh:
        fh.write(json.dumps(row) + "\\n")


def plain(name):
    return lambda: report(name)


def leak_env_cwd_path():
    report("leak_env")
    os.environ["DAGFLOW_TEST_LEAK"] = "yes"
    os.chdir("/")
    sys.path.append("/leaked/path")


def rebind_global():
    global COUNTER
    report("rebind")
    COUNTER += 1


def leave_thread():
    report("thread")
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()


def segfault():
    report("segfault")
    os.kill(os.getpid(), signal.SIGSEGV)


def exit_early():
    report("exit")
    sys.exit(3)


def hog():
    report("hog")
    hog = bytearray(300 << 20)
    hog[::4096] = b"x" * len(range(0, len(hog), 4096))  # touch every page: resident, not just reserved
    sys.dagflow_test_hog = hog


def marked_failed_while_running():
    import sqlite3
    report("undead")
    with sqlite3.connect(DB) as connection:  # what "mark failed" in the UI does to the row
        connection.execute("UPDATE task_instance SET state = 'failed' WHERE task_id = 'undead'")
    time.sleep(60)


def too_slow():
    report("slow")
    time.sleep(60)


def chain(dag_id, steps, **dag_kwargs):
    with DAG(dag_id, schedule=None, **dag_kwargs):
        previous = None
        for task_id, fn, kwargs in steps:
            task = PythonOperator(task_id=task_id, python_callable=fn, trigger_rule="all_done", **kwargs)
            if previous is not None:
                previous >> task
            previous = task


chain("plain", [(f"t{{i}}", plain(f"t{{i}}"), {{}}) for i in range(5)])
chain("isolation", [
    ("leak_env", leak_env_cwd_path, {{}}),
    ("after_env", plain("after_env"), {{}}),
    ("rebind", rebind_global, {{}}),
    ("after_rebind", plain("after_rebind"), {{}}),
    ("thread", leave_thread, {{}}),
    ("after_thread", plain("after_thread"), {{}}),
    ("segfault", segfault, {{}}),
    ("after_segfault", plain("after_segfault"), {{}}),
    ("exit", exit_early, {{}}),
    ("after_exit", plain("after_exit"), {{}}),
    ("hog", hog, {{}}),
    ("after_hog", plain("after_hog"), {{}}),
    ("slow", too_slow, {{"execution_timeout": timedelta(seconds=1)}}),
    ("after_slow", plain("after_slow"), {{}}),
    ("undead", marked_failed_while_running, {{}}),
    ("after_undead", plain("after_undead"), {{}}),
])

with DAG("fan", schedule=None):
    PythonOperator(task_id="start", python_callable=plain("start")) >> [
        PythonOperator(task_id=f"f{{i}}", python_callable=plain(f"f{{i}}")) for i in range(60)]
"""


@pytest.fixture
def setup(settings: Settings, db: Database, tmp_path: Path) -> Iterator[tuple[Settings, Database, Path]]:
    out = tmp_path / "tries.jsonl"
    dags = settings.core.dags_folder
    dags.mkdir(parents=True, exist_ok=True)
    db_file = str(settings.home / "dagflow.db")
    (dags / "reuse.py").write_text(textwrap.dedent(DAG_FILE.format(out=str(out), db=db_file)))
    sync_folders(db, [dags], paused_at_creation=False)
    # The cap sits 200 MB above what this (pytest) process holds already: a task process forked
    # from a worker forked from here starts with that resident, and only the 300 MB hog exceeds it.
    cap = int(rss_mb()) + 200
    core = {"parallelism": 1, "killed_task_cleanup_time": 1.0, "max_memory_per_child_mb": cap}
    yield settings.replace(core=core, scheduler={"heartbeat_interval": 0.2}), db, out


def run_dag(settings: Settings, db: Database, dag_id: str) -> DagRunState:
    executor = LocalExecutor(settings)
    scheduler = Scheduler(settings, db, executor)
    before = children_now()
    executor.start()
    try:
        trigger(scheduler, dag_id)
        state = run_until_finished(scheduler, seconds=120)
    finally:
        scheduler.shutdown()
    assert [p for p in workers(before) if p.is_running()] == []  # no worker, no idle task process left
    return state


def rows(out: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        assert row["task"] not in found, f"{row['task']} ran twice"
        found[row["task"]] = row
    return found


def states(db: Database) -> dict[str, TaskInstanceState]:
    with db.transaction() as session:
        return {ti.task_id: ti.state for ti in session.scalars(sa.select(TaskInstance))}


def test_one_task_process_runs_consecutive_tries_each_with_its_own_log(
    setup: tuple[Settings, Database, Path],
) -> None:
    settings, db, out = setup
    assert run_dag(settings, db, "plain") == DagRunState.SUCCESS
    seen = rows(out)
    assert len({row["pid"] for row in seen.values()}) == 1  # one worker, one reused task process
    for i in range(5):
        text = log_path(
            settings.logging.base_log_folder, dag_id="plain", run_id="r1", task_id=f"t{i}", map_index=-1, try_number=1
        ).read_text()
        assert f"hello from t{i}" in text
        assert "marked success" in text
        assert [f"hello from t{j}" in text for j in range(5)].count(True) == 1


def test_max_tries_per_child_1_forks_a_process_per_try(setup: tuple[Settings, Database, Path]) -> None:
    settings, db, out = setup
    assert run_dag(settings.replace(core={"max_tries_per_child": 1}), db, "plain") == DagRunState.SUCCESS
    assert len({row["pid"] for row in rows(out).values()}) == 5


def test_max_tries_per_child_caps_the_tries_of_one_process(setup: tuple[Settings, Database, Path]) -> None:
    settings, db, out = setup
    assert run_dag(settings.replace(core={"max_tries_per_child": 2}), db, "plain") == DagRunState.SUCCESS
    pids = [rows(out)[f"t{i}"]["pid"] for i in range(5)]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]


def test_what_a_try_leaves_behind_does_not_reach_the_next(setup: tuple[Settings, Database, Path]) -> None:
    settings, db, out = setup
    run_dag(settings, db, "isolation")
    seen = rows(out)
    final = states(db)
    # Restored in place: the same process runs the next try, with the old environment.
    assert seen["after_env"]["pid"] == seen["leak_env"]["pid"]
    assert seen["after_env"]["env"] is None
    assert seen["after_env"]["cwd"] == seen["leak_env"]["cwd"]
    assert seen["after_env"]["path"] is False
    # Not restorable: the next try gets a fresh task process.
    for leaky in ("rebind", "thread", "segfault", "exit", "hog", "slow", "undead"):
        assert seen[f"after_{leaky}"]["pid"] != seen[leaky]["pid"], leaky
        assert final[f"after_{leaky}"] == TaskInstanceState.SUCCESS, leaky
    assert seen["after_rebind"]["counter"] == 0
    assert final["segfault"] == TaskInstanceState.FAILED
    assert final["exit"] == TaskInstanceState.FAILED
    assert final["slow"] == TaskInstanceState.FAILED
    assert final["hog"] == TaskInstanceState.SUCCESS
    assert final["undead"] == TaskInstanceState.FAILED  # as marked; the supervisor stopped the try
    with db.transaction() as session:
        reasons = dict(session.execute(sa.select(TaskInstance.task_id, TaskInstance.end_reason)).all())
    assert "signal 11" in (reasons["segfault"] or "")
    assert "timed out" in (reasons["slow"] or "")


def test_fan_out_runs_every_try_exactly_once(setup: tuple[Settings, Database, Path]) -> None:
    settings, db, out = setup
    assert run_dag(settings.replace(core={"parallelism": 3}), db, "fan") == DagRunState.SUCCESS
    seen = rows(out)  # fails on a task that ran twice
    assert set(seen) == {"start", *(f"f{i}" for i in range(60))}
    with db.transaction() as session:
        tries = session.execute(sa.select(TaskInstance.state, TaskInstance.try_number)).all()
    assert [tuple(row) for row in tries] == [(TaskInstanceState.SUCCESS, 1)] * 61
