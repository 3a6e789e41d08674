"""Two real ``dagflow scheduler`` processes share one PostgreSQL DB and a 300-task fan-out.

Every task inserts one row (its task id, try, pid) into a table of the test's own
PostgreSQL database. Whatever the two schedulers race on (starting the run, planning
it, queueing under the limits), each task must run exactly once, the run must succeed,
and both schedulers must have queued a share (``task_instance.queued_by_job_id``).

- LocalExecutor: each scheduler runs its tasks on its own warm worker processes
  (parallelism 16 each).
- CeleryExecutor: two schedulers and two ``dagflow celery worker`` processes
  (concurrency 8 each) on a throwaway Redis of the test's own; both workers must have run tasks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest

from dagflow.cli.dag_files import refresh
from dagflow.config import load_settings
from dagflow.db import Database
from tests.integration.celery_helpers import CeleryWorker, celery_env, make_redis_broker

__all__ = ["make_redis_broker"]  # a fixture used by this module
pytestmark = [pytest.mark.postgres, pytest.mark.slow]

TASKS = 300
RUN_DEADLINE = 900.0  # generous: two cores shared with other tests (mapped2000 too)

DAG_FILE = """
import os
import psycopg
from dagflow import DAG
from dagflow.operators import PythonOperator

def record(ti):
    with psycopg.connect(os.environ["DAGFLOW_TEST_RECORD_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO executions (task_id, try_number, ran_by, pid) VALUES (%s, %s, %s, %s)",
            (ti.task_id, ti.try_number, os.environ.get("DAGFLOW_TEST_TAG", "?"), os.getpid()))

with DAG("fanout300", schedule=None, max_active_tasks=TASKS):
    for i in range(TASKS):
        PythonOperator(task_id=f"t{i:03d}", python_callable=record)

def record_index(ti, item):
    with psycopg.connect(os.environ["DAGFLOW_TEST_RECORD_URL"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO executions (task_id, try_number, ran_by, pid) VALUES (%s, %s, %s, %s)",
            (f"{ti.task_id}[{ti.map_index}]", ti.try_number, os.environ.get("DAGFLOW_TEST_TAG", "?"), os.getpid()))

with DAG("mapped2000", schedule=None, max_active_tasks=32):
    PythonOperator.partial(task_id="each", python_callable=record_index).expand(
        op_kwargs=[{"item": i} for i in range(MAPPED)]
    )
"""
MAPPED = 2000


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class Cluster:
    """A DAG folder, a dagflow DB, a record DB and the environment of every process."""

    def __init__(self, root: Path, db_url: str, record_url: str, extra: dict[str, str]) -> None:
        self.root = root
        dags = root / "dags"
        dags.mkdir()
        (dags / "fanout.py").write_text(
            textwrap.dedent(DAG_FILE).replace("TASKS", str(TASKS)).replace("MAPPED", str(MAPPED))
        )
        self.record_url = _libpq(record_url)
        with psycopg.connect(self.record_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE executions (task_id text, try_number int, ran_by text, pid int)")
        self.env = celery_env(
            root / "home",
            db_url=db_url,
            broker_url=extra.pop("broker", "redis://unused"),
            dags_folder=dags,
            extra={"DAGFLOW__SCHEDULER__POLL_INTERVAL": "1", "DAGFLOW_TEST_RECORD_URL": self.record_url, **extra},
        )
        self.db_url = _libpq(db_url)

    def cli(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "dagflow", *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, f"dagflow {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc.stdout

    @contextmanager
    def scheduler(self, tag: str) -> Iterator[subprocess.Popen[bytes]]:
        log = self.root / f"scheduler_{tag}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagflow", "scheduler"],
            env={**self.env, "DAGFLOW_TEST_TAG": tag},
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
                proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        assert proc.returncode == 0, f"scheduler {tag} exited {proc.returncode}: {log.read_text()[-3000:]}"

    def scheduler_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in sorted(self.root.glob("scheduler_*.log")))

    def run_to_the_end(self, schedulers: list[subprocess.Popen[bytes]], dag_id: str = "fanout300") -> str:
        """Trigger the DAG, wait for the run to finish; its final state."""
        self.cli("dags", "unpause", dag_id)
        run_id = json.loads(self.cli("dags", "trigger", dag_id, "--output", "json"))["run_id"]
        deadline = time.monotonic() + RUN_DEADLINE
        state = ""
        while time.monotonic() < deadline:
            for proc in schedulers:
                assert proc.poll() is None, f"a scheduler died: {self.scheduler_logs()}"
            proc = subprocess.run(
                [sys.executable, "-m", "dagflow", "dags", "state", dag_id, run_id],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            state = (proc.stdout.strip().splitlines() or [""])[-1]  # a failed look (DB busy) is retried
            if state in ("success", "failed"):
                return state
            time.sleep(1)
        raise AssertionError(f"run still {state} after {RUN_DEADLINE}s: {self.scheduler_logs()}")

    def executions(self) -> list[tuple[str, int, str]]:
        with psycopg.connect(self.record_url) as conn:
            return [tuple(row) for row in conn.execute("SELECT task_id, try_number, ran_by FROM executions")]

    def queued_by(self, dag_id: str = "fanout300") -> Counter[int]:
        with psycopg.connect(self.db_url) as conn:
            rows = conn.execute("SELECT queued_by_job_id FROM task_instance WHERE dag_id = %s", (dag_id,)).fetchall()
        return Counter(row[0] for row in rows)


@pytest.fixture
def cluster_for(make_pg_database: Callable[[], str], tmp_path: Path) -> Callable[[dict[str, str]], Cluster]:
    def build(extra: dict[str, str]) -> Cluster:
        cluster = Cluster(tmp_path, make_pg_database(), make_pg_database(), dict(extra))
        settings = load_settings(cluster.env)
        db = Database(settings)
        try:
            db.migrate()
            refresh(settings, db)  # parse once, so both schedulers start from the same DAG version
        finally:
            db.dispose()
        return cluster

    return build


def _check(cluster: Cluster, state: str) -> list[tuple[str, int, str]]:
    assert state == "success", cluster.scheduler_logs()
    executions = cluster.executions()
    per_task = Counter(task_id for task_id, _, _ in executions)
    twice = sorted(task_id for task_id, count in per_task.items() if count > 1)
    assert not twice, f"ran more than once: {twice}"
    assert len(per_task) == TASKS and all(try_number == 1 for _, try_number, _ in executions)
    queued_by = cluster.queued_by()
    assert None not in queued_by and len(queued_by) == 2, f"queued by scheduler jobs {dict(queued_by)}"
    return executions


def test_two_schedulers_local_executor_run_each_task_exactly_once(
    cluster_for: Callable[[dict[str, str]], Cluster],
) -> None:
    cluster = cluster_for({"DAGFLOW__CORE__EXECUTOR": "LocalExecutor", "DAGFLOW__CORE__PARALLELISM": "16"})
    with cluster.scheduler("a") as first, cluster.scheduler("b") as second:
        state = cluster.run_to_the_end([first, second])
    executions = _check(cluster, state)
    assert {ran_by for _, _, ran_by in executions} == {"a", "b"}  # each scheduler's workers ran a share


def test_two_schedulers_run_a_task_mapped_over_2000_inputs_each_index_exactly_once(
    cluster_for: Callable[[dict[str, str]], Cluster],
) -> None:
    cluster = cluster_for({"DAGFLOW__CORE__EXECUTOR": "LocalExecutor", "DAGFLOW__CORE__PARALLELISM": "16"})
    with cluster.scheduler("a") as first, cluster.scheduler("b") as second:
        state = cluster.run_to_the_end([first, second], "mapped2000")
    assert state == "success", cluster.scheduler_logs()
    executions = cluster.executions()
    per_index = Counter(task_id for task_id, _, _ in executions)
    assert sorted(per_index) == sorted(f"each[{i}]" for i in range(MAPPED))  # none lost
    assert set(per_index.values()) == {1} and {t for _, t, _ in executions} == {1}  # none twice, no retry
    queued_by = cluster.queued_by("mapped2000")
    assert None not in queued_by and len(queued_by) == 2, f"queued by scheduler jobs {dict(queued_by)}"


def test_two_schedulers_two_celery_workers_run_each_task_exactly_once(
    cluster_for: Callable[[dict[str, str]], Cluster],
    make_redis_broker: Callable[[], str],
) -> None:
    cluster = cluster_for(
        {
            "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "DAGFLOW__CORE__PARALLELISM": "16",
            "broker": make_redis_broker(),
        }
    )
    with ExitStack() as stack:
        workers = [
            stack.enter_context(
                CeleryWorker(
                    {**cluster.env, "DAGFLOW_TEST_TAG": tag}, concurrency=8, log_path=cluster.root / f"worker_{tag}.log"
                )
            )
            for tag in ("w1", "w2")
        ]
        for worker in workers:  # both start at once
            worker.wait_ready(120)
        first = stack.enter_context(cluster.scheduler("a"))
        second = stack.enter_context(cluster.scheduler("b"))
        state = cluster.run_to_the_end([first, second])
    executions = _check(cluster, state)
    assert {ran_by for _, _, ran_by in executions} == {"w1", "w2"}  # both workers ran a share
