"""The CeleryExecutor with real ``dagflow celery worker`` processes, Redis and PostgreSQL.

One module-wide setup: a fresh PostgreSQL database, a throwaway Redis server of the
module's own (``make_redis_broker``), a DAG folder and a worker on the default queue (its own log folder, serving it over HTTP). The scheduler
runs in the test process.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pendulum
import pytest
from click.testing import CliRunner

from dagflow.cli.main import main
from dagflow.config import Settings, load_settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.execution.logs import log_path, read_log
from dagflow.execution.signing import sign_payload
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.celery import CeleryExecutor
from dagflow.executors.celery.app import TASK_NAME, build_app, send_workload
from dagflow.keys import secret_key
from dagflow.models import DagRun, TaskInstance
from dagflow.scheduler.loop import Scheduler
from dagflow.services.dag_runs import trigger_dag
from dagflow.state import DagRunState, TaskInstanceState
from tests.integration.celery_helpers import (
    CeleryWorker,
    celery_env,
    drive_scheduler,
    fresh_pg_url,
    make_rabbitmq_broker,
    make_redis_broker,
    run_state,
    running_worker,
    task_rows,
)
from tests.servers import free_port

__all__ = ["fresh_pg_url", "make_rabbitmq_broker", "make_redis_broker"]  # fixtures used by this module

SECRET = "celery-test-secret"
DAG_FILE = """
import os, pathlib, time
from datetime import timedelta
from dagflow import DAG
from dagflow.operators import BashOperator, PythonOperator

OUT = pathlib.Path({out!r})

def flaky(run_id):
    marker = OUT / f"flaky_failed_once.{{run_id}}"
    if not marker.exists():
        marker.write_text("x")
        raise RuntimeError("the first try fails")
    print("second try ok")

def where(ti):
    (OUT / f"{{ti.task_id}}.{{ti.run_id}}.where").write_text(os.environ.get("WORKER_TAG", "?"))

with DAG("celery_flow", schedule=None):
    hello = PythonOperator(task_id="hello", python_callable=lambda: print("hello from a celery worker"))
    hello >> [PythonOperator(task_id="flaky", python_callable=flaky, retries=1, retry_delay=timedelta(0)),
              BashOperator(task_id="too_slow", bash_command="sleep 30", execution_timeout=timedelta(seconds=1))]

with DAG("routing", schedule=None):
    PythonOperator(task_id="cpu", python_callable=where) >> PythonOperator(task_id="cpu2", python_callable=where)
    PythonOperator(task_id="gpu", python_callable=where, queue="gpu")

with DAG("slow", schedule=None):
    BashOperator(task_id="nap", bash_command="echo napping; sleep 60", queue="slow")
"""


def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """``dagflow ARGS`` in this process with ``env``; exit code and stdout."""
    runner = CliRunner()
    with runner.isolation(env=env) as (out, _, _):
        code = main(list(args))
    return code, out.getvalue().decode()


@dataclass
class Cluster:
    root: Path
    out: Path
    env: dict[str, str]
    settings: Settings
    db: Database
    worker: CeleryWorker

    def scheduler(self) -> Scheduler:
        return Scheduler(self.settings, self.db, CeleryExecutor(self.settings, db=self.db))

    def trigger(self, dag_id: str, run_id: str) -> None:
        trigger_dag(self.settings, self.db, dag_id, run_id=run_id)


@pytest.fixture(scope="module")
def cluster(
    fresh_pg_url: str, make_redis_broker: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("celery_redis")
    dags, out = root / "dags", root / "out"
    dags.mkdir()
    out.mkdir()
    (dags / "celery_dags.py").write_text(textwrap.dedent(DAG_FILE.format(out=str(out))))
    port = free_port()
    env = celery_env(
        root / "scheduler_home",
        db_url=fresh_pg_url,
        broker_url=make_redis_broker(),
        dags_folder=dags,
        extra={
            "DAGFLOW__WEBSERVER__SECRET_KEY": SECRET,
            "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": str(port),
            "DAGFLOW__CELERY__WORKER_LOG_SERVER_HOST": "0.0.0.0",  # readers on other hosts, as in a fleet
        },
    )
    settings = load_settings(env)
    db = Database(settings)
    sync_folders(db, [dags], paused_at_creation=False)
    worker_env = {**env, "DAGFLOW_HOME": str(root / "worker_home"), "WORKER_TAG": "default"}
    with running_worker(worker_env, log_path=root / "worker.log", concurrency=2) as worker:
        yield Cluster(root, out, env, settings, db, worker)
    db.dispose()


def run_celery_flow(cluster: Cluster, settings: Settings, run_id: str, worker_logs: Path) -> None:
    """Trigger ``celery_flow`` and check: a success, a retry that succeeds, a timeout on the worker."""
    scheduler = Scheduler(settings, cluster.db, CeleryExecutor(settings, db=cluster.db))
    cluster.trigger("celery_flow", run_id)
    try:
        drive_scheduler(
            scheduler,
            lambda: run_state(cluster.db, "celery_flow", run_id) in ("success", "failed"),
            describe=lambda: task_rows(cluster.db, "celery_flow", run_id),
        )
    finally:
        scheduler.shutdown()
    tis = task_rows(cluster.db, "celery_flow", run_id)
    assert run_state(cluster.db, "celery_flow", run_id) == "failed"  # too_slow timed out
    assert (tis["hello"].state.value, tis["hello"].try_number) == ("success", 1)
    assert (tis["flaky"].state.value, tis["flaky"].try_number) == ("success", 2)
    assert tis["too_slow"].state.value == "failed"
    assert "timed out" in (tis["too_slow"].end_reason or "")
    assert "hello from a celery worker" in read_log(
        worker_logs, dag_id="celery_flow", run_id=run_id, task_id="hello", try_number=1
    )
    assert "the first try fails" in read_log(
        worker_logs, dag_id="celery_flow", run_id=run_id, task_id="flaky", try_number=1
    )


@pytest.fixture(scope="module")
def flow_r1(cluster: Cluster) -> str:
    """Run ``celery_flow`` once on the Redis worker (checked); its run id."""
    run_celery_flow(cluster, cluster.settings, "r1", cluster.root / "worker_home" / "logs")
    return "r1"


def test_a_dag_runs_on_the_worker_with_retries_and_timeouts(flow_r1: str) -> None:
    assert flow_r1 == "r1"  # run and checked by the fixture (the remote-log test reads its logs)


def test_the_same_on_rabbitmq(cluster: Cluster, make_rabbitmq_broker: Callable[[], str]) -> None:
    broker = make_rabbitmq_broker()
    env = {
        **cluster.env,
        "DAGFLOW_HOME": str(cluster.root / "rabbit_home"),
        "DAGFLOW__CELERY__BROKER_URL": broker,
        "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",
    }
    with running_worker(env, log_path=cluster.root / "rabbit_worker.log", concurrency=2):
        run_celery_flow(
            cluster,
            cluster.settings.replace(celery={"broker_url": broker}),
            "rabbit",
            cluster.root / "rabbit_home" / "logs",
        )


def test_remote_log_is_fetched_from_the_worker_that_wrote_it(cluster: Cluster, flow_r1: str) -> None:
    tis = task_rows(cluster.db, "celery_flow", "r1")
    hostname = tis["hello"].hostname
    assert hostname
    local = log_path(
        cluster.settings.logging.base_log_folder, dag_id="celery_flow", run_id="r1", task_id="hello", try_number=1
    )
    assert not local.exists()  # the reader's log folder is not the worker's

    text = read_log(
        cluster.settings, dag_id="celery_flow", run_id="r1", task_id="hello", try_number=1, hostname=hostname
    )
    assert "hello from a celery worker" in text
    tail = read_log(
        cluster.settings,
        dag_id="celery_flow",
        run_id="r1",
        task_id="hello",
        try_number=1,
        hostname=hostname,
        offset=len(text.encode()) - 10,
    )
    assert tail == text.encode()[-10:].decode()

    code, out = cli(cluster.env, "tasks", "logs", "celery_flow", "flaky", "r1", "--try", "1")
    assert code == 0 and "the first try fails" in out  # try 1's host comes from the try history
    code, out = cli(cluster.env, "tasks", "logs", "celery_flow", "flaky", "r1")
    assert code == 0 and "second try ok" in out

    wrong_key = cluster.settings.replace(webserver={"secret_key": "not-the-worker-key"})
    refused = read_log(wrong_key, dag_id="celery_flow", run_id="r1", task_id="hello", try_number=1, hostname=hostname)
    assert refused.startswith("*** ") and "403" in refused and refused.count("\n") == 1
    unreachable = cluster.settings.replace(celery={"worker_log_server_port": free_port()})
    message = read_log(unreachable, dag_id="celery_flow", run_id="r1", task_id="hello", try_number=1, hostname=hostname)
    assert message.startswith("*** ") and "unreachable" in message and message.count("\n") == 1


def test_a_gpu_task_waits_for_a_gpu_worker_and_runs_only_there(cluster: Cluster) -> None:
    scheduler = cluster.scheduler()
    cluster.trigger("routing", "r1")

    def states() -> dict[str, str]:
        return {task_id: ti.state.value for task_id, ti in task_rows(cluster.db, "routing", "r1").items()}

    try:
        drive_scheduler(scheduler, lambda: states().get("cpu2") == "success", describe=states)
        time.sleep(1.0)  # the default worker had every chance to take the gpu task
        scheduler.tick()
        assert states()["gpu"] == "queued"
        # Same log server port as the default worker (taken): this worker runs without serving logs.
        gpu_env = {**cluster.env, "DAGFLOW_HOME": str(cluster.root / "gpu_home"), "WORKER_TAG": "gpu"}
        with running_worker(
            gpu_env, log_path=cluster.root / "gpu_worker.log", queues="gpu", concurrency=1
        ) as gpu_worker:
            drive_scheduler(scheduler, lambda: run_state(cluster.db, "routing", "r1") == "success", describe=states)
        assert "log server off: cannot listen" in gpu_worker.output()
    finally:
        scheduler.shutdown()
    ran_on = {task: (cluster.out / f"{task}.r1.where").read_text() for task in ("cpu", "cpu2", "gpu")}
    assert ran_on == {"cpu": "default", "cpu2": "default", "gpu": "gpu"}


def test_sigterm_lets_the_worker_stop_and_records_the_terminated_try(cluster: Cluster) -> None:
    scheduler = cluster.scheduler()
    cluster.trigger("slow", "r1")
    slow_env = {
        **cluster.env,
        "DAGFLOW_HOME": str(cluster.root / "slow_home"),
        "DAGFLOW__CELERY__WORKER_SHUTDOWN_GRACE": "1",
        "DAGFLOW__CELERY__WORKER_LOG_SERVER_PORT": "0",
    }
    try:
        with CeleryWorker(slow_env, queues="slow", concurrency=1, log_path=cluster.root / "slow_worker.log") as worker:
            worker.wait_ready()
            drive_scheduler(
                scheduler,
                lambda: task_rows(cluster.db, "slow", "r1")["nap"].state.value == "running",
                describe=lambda: task_rows(cluster.db, "slow", "r1"),
            )
            began = time.monotonic()
            assert worker.stop(timeout=30) == 0
            assert time.monotonic() - began < 25
        drive_scheduler(
            scheduler,
            lambda: run_state(cluster.db, "slow", "r1") == "failed",
            describe=lambda: task_rows(cluster.db, "slow", "r1"),
        )
    finally:
        scheduler.shutdown()
    nap = task_rows(cluster.db, "slow", "r1")["nap"]
    assert nap.state.value == "failed" and nap.end_reason
    text = read_log(cluster.root / "slow_home" / "logs", dag_id="slow", run_id="r1", task_id="nap", try_number=1)
    assert "napping" in text and "received signal 15" in text


EVIL_FILE = """
import pathlib
pathlib.Path({marker!r}).write_text("the forged message ran me")
"""


def test_a_forged_broker_message_runs_nothing_and_a_signed_one_runs(cluster: Cluster, tmp_path: Path) -> None:
    """The issue's attack on a real worker: a message naming a queued task instance and another file."""
    marker = tmp_path / "evil-ran"
    evil = tmp_path / "evil.py"
    evil.write_text(EVIL_FILE.format(marker=str(marker)))
    with cluster.db.transaction() as session:
        session.add(
            DagRun(
                dag_id="routing", run_id="forged", logical_date=pendulum.datetime(2031, 1, 1), state=DagRunState.RUNNING
            )
        )
        ti = TaskInstance(dag_id="routing", run_id="forged", task_id="cpu", state=TaskInstanceState.QUEUED)
        session.add(ti)
        session.flush()
        workload = TaskWorkload(ti.id, "routing", "forged", "cpu", -1, 1)
    app = build_app(cluster.settings)
    body = {**workload.to_dict(), "fileloc": str(evil)}
    forged = [body, sign_payload("a-key-the-scheduler-does-not-have", body)]
    for message in forged:
        app.send_task(TASK_NAME, args=[message], queue="default")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cluster.worker.output(20000).count("refused a broker message") < 2:
        time.sleep(0.2)
    output = cluster.worker.output(20000)
    assert "refused a broker message: unsigned" in output and "refused a broker message: bad signature" in output
    assert not marker.exists()
    assert task_rows(cluster.db, "routing", "forged")["cpu"].state is TaskInstanceState.QUEUED

    send_workload(app, workload, cluster.settings, secret_key(cluster.settings))  # what the scheduler sends
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and task_rows(cluster.db, "routing", "forged")["cpu"].state.value != "success":
        time.sleep(0.2)
    assert task_rows(cluster.db, "routing", "forged")["cpu"].state is TaskInstanceState.SUCCESS
    assert not marker.exists()


def test_the_worker_logs_each_try_with_its_task_instance_and_state(cluster: Cluster, flow_r1: str) -> None:
    """Besides Celery's own lines per message (as Airflow's Celery worker writes them at INFO),
    the worker writes one line per try naming the task instance and its state."""
    output = cluster.worker.output(200_000)
    assert f"celery_flow.hello@{flow_r1}#1: success" in output
