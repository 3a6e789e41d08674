"""The CeleryExecutor without a worker: configuration, routing, broker outages, events, reconciliation."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from dagflow.cli.main import main
from dagflow.config import Settings, load_settings
from dagflow.exceptions import ConfigError
from dagflow.execution.signing import sign_payload
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.celery import executor as celery_executor
from dagflow.executors.celery.app import ForgedMessage, build_app, queue_for, read_message
from dagflow.executors.celery.broker_watch import BrokerWatch
from dagflow.executors.celery.executor import CeleryExecutor, ended_event
from dagflow.executors.registry import executor_from_settings
from dagflow.keys import secret_key
from dagflow.state import TaskInstanceState as TI
from tests.servers import RedisServer

PG_URL = "postgresql+psycopg://root@127.0.0.1:1/nowhere"


def celery_settings(tmp_path: Path, **extra: str) -> Settings:
    env = {
        "DAGFLOW_HOME": str(tmp_path),
        "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": PG_URL,
        "DAGFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:1/0",
        **extra,
    }
    return load_settings(env)


def workload(ti_id: int = 1, try_number: int = 1, queue: str = "default") -> TaskWorkload:
    return TaskWorkload(
        ti_id=ti_id,
        dag_id="d",
        run_id="r",
        task_id=f"t{ti_id}",
        map_index=-1,
        try_number=try_number,
        queue=queue,
    )


class FakeDb:
    """Never used: the tests replace the one query the executor makes."""


def test_a_sqlite_metadata_db_is_refused_with_one_line(tmp_path: Path) -> None:
    settings = load_settings({"DAGFLOW_HOME": str(tmp_path), "DAGFLOW__CORE__EXECUTOR": "CeleryExecutor"})
    with pytest.raises(ConfigError) as err:
        executor_from_settings(settings)
    assert "PostgreSQL" in str(err.value) and "\n" not in str(err.value)


def test_the_app_acks_late_prefetches_one_and_has_no_result_backend(tmp_path: Path) -> None:
    settings = celery_settings(
        tmp_path, DAGFLOW__CELERY__VISIBILITY_TIMEOUT="7200", DAGFLOW__CELERY__DEFAULT_QUEUE="main"
    )
    conf = build_app(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == 7200
    assert conf.task_default_queue == "main"
    assert conf.result_backend is None and conf.task_ignore_result
    assert conf.broker_url == "redis://127.0.0.1:1/0"


def test_tasks_without_a_queue_go_to_the_default_queue(tmp_path: Path) -> None:
    settings = celery_settings(tmp_path, DAGFLOW__CELERY__DEFAULT_QUEUE="main")
    assert queue_for(workload(queue="default"), settings) == "main"
    assert queue_for(workload(queue="gpu"), settings) == "gpu"


@pytest.mark.parametrize(
    ("row", "ended"),
    [
        ((TI.QUEUED, 0), False),  # waiting for a worker
        ((TI.RUNNING, 1), False),  # this try runs
        ((TI.SUCCESS, 1), True),
        ((TI.UP_FOR_RETRY, 1), True),
        ((TI.FAILED, 1), True),
        ((TI.QUEUED, 1), True),  # the next try is queued already
        ((TI.RUNNING, 2), True),  # a later try runs
        ((TI.SCHEDULED, 0), True),  # handed back: this try will not run
        (None, True),  # deleted
    ],
)
def test_reconciliation_ends_every_try_that_will_not_run_on(row: Any, ended: bool) -> None:
    event = ended_event(7, 1, row)
    assert (event is not None) is ended
    if event is not None:
        assert (event.ti_id, event.try_number) == (7, 1)


def test_poll_reconciles_with_the_db_and_frees_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executor = CeleryExecutor(celery_settings(tmp_path, DAGFLOW__CORE__PARALLELISM="2"), db=FakeDb())  # type: ignore[arg-type]
    executor.running.update({(1, 1), (2, 1)})
    rows = {1: (TI.SUCCESS, 1), 2: (TI.RUNNING, 1)}
    queries: list[list[int]] = []

    def read(db: Any, ids: Any) -> dict[int, Any]:
        queries.append(list(ids))
        return rows

    monkeypatch.setattr(celery_executor, "_read_tis", read)
    assert executor.slots_free == 0
    events = executor.poll()
    assert [(e.ti_id, e.state) for e in events] == [(1, TI.SUCCESS)]
    assert executor.running == {(2, 1)} and executor.slots_free == 1
    assert executor.poll() == []  # not due again yet: no second query
    assert queries == [[1, 2]]


def test_a_ti_done_notification_is_an_event_and_a_wakeup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executor = CeleryExecutor(celery_settings(tmp_path), db=FakeDb())  # type: ignore[arg-type]
    monkeypatch.setattr(celery_executor, "_read_tis", lambda db, ids: {3: (TI.RUNNING, 1)})
    executor.running.update({(3, 1)})
    executor._on_notification("ti_done", {"ti_id": 9, "try_number": 1, "state": "success"})  # not ours
    assert not executor.wakeup.is_set()
    executor._on_notification("ti_done", {"ti_id": 3, "try_number": 1, "state": "failed"})
    assert executor.wakeup.is_set()
    assert [(e.ti_id, e.state) for e in executor.poll()] == [(3, TI.FAILED)]
    assert executor.running == set()


def test_an_unreachable_broker_holds_the_workload_and_logs_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    executor = CeleryExecutor(celery_settings(tmp_path), db=FakeDb())  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG, logger="dagflow.executors.celery")
    try:
        began = time.monotonic()
        executor.submit(workload(1))
        executor.submit(workload(2))  # within the back-off: not even tried
        assert time.monotonic() - began < 15
    finally:
        executor.shutdown()
    assert executor.running == {(1, 1), (2, 1)}  # held for the broker's return, slots kept
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    message = errors[0].getMessage()
    assert "unreachable" in message and "held" in message and "\n" not in message


def _queue_length(server: RedisServer, queue: str = "default") -> int:
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


@pytest.mark.redis
def test_workloads_held_while_the_broker_was_away_are_published_when_it_answers(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(celery_executor, "BROKER_BACKOFF_S", 0.2)
    monkeypatch.setattr(celery_executor, "_read_tis", lambda db, ids: {1: (TI.QUEUED, 0), 2: (TI.QUEUED, 0)})
    executor = CeleryExecutor(celery_settings(tmp_path, DAGFLOW__CELERY__BROKER_URL=redis_server.url), db=FakeDb())  # type: ignore[arg-type]
    try:
        redis_server.stop()
        executor.submit(workload(1))
        executor.submit(workload(2))
        redis_server.start()
        time.sleep(0.3)
        executor.poll()
        assert _queue_length(redis_server) == 2
        assert executor.running == {(1, 1), (2, 1)}
    finally:
        executor.shutdown()


@pytest.mark.redis
def test_a_ticks_workloads_go_to_the_broker_in_one_round_trip(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.connection import AbstractConnection

    executor = CeleryExecutor(celery_settings(tmp_path, DAGFLOW__CELERY__BROKER_URL=redis_server.url), db=FakeDb())  # type: ignore[arg-type]
    writes: list[int] = []
    send = AbstractConnection.send_packed_command

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        writes.append(1)
        send(self, command, check_health)

    try:
        executor.submit(workload(1))  # connects (its handshake is not what is counted)
        monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
        executor.submit_many([workload(ti_id) for ti_id in range(2, 12)])
        monkeypatch.undo()
        assert _queue_length(redis_server) == 11  # one message per try
        assert len(writes) == 1  # ten LPUSH in one pipeline, not ten round trips
        assert executor.running == {(ti_id, 1) for ti_id in range(1, 12)}
    finally:
        executor.shutdown()


@pytest.mark.redis
def test_messages_lost_with_a_restarted_broker_are_sent_again_unless_claimed(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = {1: (TI.QUEUED, 0), 2: (TI.RUNNING, 1)}  # 2 was claimed by a worker before the restart
    monkeypatch.setattr(celery_executor, "_read_tis", lambda db, ids: rows)
    executor = CeleryExecutor(celery_settings(tmp_path, DAGFLOW__CELERY__BROKER_URL=redis_server.url), db=FakeDb())  # type: ignore[arg-type]
    try:
        executor.submit(workload(1))
        executor.submit(workload(2))
        assert _queue_length(redis_server) == 2
        redis_server.restart()  # nothing persisted: both messages are gone
        assert _queue_length(redis_server) == 0
        assert executor._watch is not None and executor._watch.check()  # a new server: a reconnect
        executor.poll()
        assert _queue_length(redis_server) == 1  # the unclaimed one, within a poll of the reconnect
        executor.poll()
        assert _queue_length(redis_server) == 1  # once per reconnect, not at every poll
    finally:
        executor.shutdown()


@pytest.mark.redis
def test_the_broker_probe_keeps_its_connection_and_sees_restarts_and_outages(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    import redis

    from dagflow.executors.celery.app import BrokerProbe

    def connections_received() -> int:
        client = redis.Redis.from_url(redis_server.url)
        try:
            return int(client.info("stats")["total_connections_received"])
        finally:
            client.close()

    probe = BrokerProbe(build_app(celery_settings(tmp_path, DAGFLOW__CELERY__BROKER_URL=redis_server.url)))
    try:
        first = probe()
        before = connections_received()
        assert [probe() for _ in range(5)] == [first] * 5
        assert connections_received() - before == 1  # only the counting client: the probe kept its connection
        redis_server.restart()
        second = probe()
        assert second is not None and second != first  # a new server, not "away", though its connection broke
        redis_server.stop()
        assert probe() is None
        redis_server.start()
        assert probe() not in (None, second)
    finally:
        probe.close()


def test_the_broker_watch_sees_outages_and_new_servers() -> None:
    answers = iter(["a", "a", None, None, "a", "b", "b"])
    seen: list[int] = []
    watch = BrokerWatch(lambda: next(answers), on_reconnect=lambda: seen.append(1))
    assert [watch.check() for _ in range(7)] == [False, False, False, False, True, True, False]
    assert watch.reconnects == 2 and len(seen) == 2 and watch.reconnected_at > 0


def test_workers_run_without_remote_control_unless_asked(tmp_path: Path) -> None:
    from dagflow.executors.celery.worker import build_worker_app

    assert build_worker_app(celery_settings(tmp_path)).conf.worker_enable_remote_control is False
    on = celery_settings(tmp_path, DAGFLOW__CELERY__WORKER_ENABLE_REMOTE_CONTROL="true")
    assert build_worker_app(on).conf.worker_enable_remote_control is True


def cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    runner = CliRunner()
    with runner.isolation(env=env) as (_, err, _):
        code = main(list(args))
    return code, err.getvalue().decode()


def test_the_worker_refuses_sqlite_in_one_line(tmp_path: Path) -> None:
    code, err = cli({"DAGFLOW_HOME": str(tmp_path)}, "celery", "worker", "--concurrency", "1")
    assert code == 1
    assert err.startswith("Error: CeleryExecutor needs a PostgreSQL") and err.count("\n") == 1


def test_flower_without_flower_installed_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "flower" else real(name, *a))
    code, err = cli({"DAGFLOW_HOME": str(tmp_path)}, "celery", "flower")
    assert code == 1 and "flower is not installed" in err and err.count("\n") == 1


def test_a_worker_that_cannot_reach_the_metadata_db_sends_the_message_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens on the DB's port: the message is retried (not dropped), then given up."""
    from dagflow.execution import runner
    from dagflow.executors.celery import worker

    monkeypatch.setattr(runner, "CLAIM_RETRY_FOR_S", 0.0)  # each delivery's own claim retries: not this test's point

    settings = celery_settings(tmp_path, DAGFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="10")
    worker._pool_process = None  # a fresh pool-process state on the unreachable DB
    app = build_worker_app_for_test(worker, settings)
    with caplog.at_level(logging.WARNING, logger=worker.__name__):
        app.tasks[worker.TASK_NAME].apply(args=[sign_payload(secret_key(settings), workload(7).to_dict())])
    worker._pool_process = None
    again = [r for r in caplog.records if "sending the message again" in r.getMessage()]
    given_up = [r for r in caplog.records if "giving the message up" in r.getMessage()]
    assert len(again) == 2  # task_queued_timeout 10 s / one delivery every 5 s
    assert len(given_up) == 1
    assert "could not run" not in caplog.text


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda key, body: body, "unsigned"),
        (lambda key, body: sign_payload("another-key-of-some-length", body), "bad signature"),
        (lambda key, body: {**sign_payload(key, body), "task_id": "other"}, "bad signature"),
        (lambda key, body: sign_payload(key, {**body, "run_id": "../../x"}), "malformed workload"),
        (lambda key, body: ["not", "a", "dict"], "not a workload message"),
    ],
)
def test_the_worker_refuses_a_message_the_scheduler_did_not_sign(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Any, reason: str
) -> None:
    """Refused before anything else: the DB (unreachable here) is not even asked."""
    from dagflow.executors.celery import worker

    settings = celery_settings(tmp_path)
    worker._pool_process = None
    app = build_worker_app_for_test(worker, settings)
    forged = make(secret_key(settings), {**workload(7).to_dict(), "fileloc": "/tmp/evil.py"})
    with caplog.at_level(logging.INFO, logger=worker.__name__):
        app.tasks[worker.TASK_NAME].apply(args=[forged])
    assert worker._pool_process is None  # no DB was opened for it
    (refusal,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert refusal.getMessage().startswith("refused a broker message:") and reason in refusal.getMessage()
    assert "unreachable" not in caplog.text


def test_a_signed_message_round_trips_and_any_change_breaks_it(tmp_path: Path) -> None:
    key = secret_key(celery_settings(tmp_path))
    message = sign_payload(key, workload(3).to_dict())
    assert read_message(key, message) == workload(3)
    for field, value in (("ti_id", 4), ("try_number", 2), ("queue", "gpu"), ("map_index", 0)):
        with pytest.raises(ForgedMessage, match="bad signature"):
            read_message(key, {**message, field: value})


def build_worker_app_for_test(worker: Any, settings: Settings) -> Any:
    app = worker.build_worker_app(settings)
    app.conf.task_always_eager = True  # retries run at once, in this process
    return app


@pytest.mark.redis
def test_a_starting_worker_restores_messages_a_killed_worker_took(tmp_path: Path, redis_server: RedisServer) -> None:
    import subprocess
    import sys

    from dagflow.executors.celery.app import restore_unacknowledged, send_workload

    settings = celery_settings(tmp_path, DAGFLOW__CELERY__BROKER_URL=redis_server.url)
    app = build_app(settings)
    send_workload(app, workload(5), settings, secret_key(settings))
    assert _queue_length(redis_server) == 1
    take_and_die = (
        "import os, sys\n"
        "from kombu import Connection\n"
        "with Connection(sys.argv[1]) as conn:\n"
        "    assert conn.default_channel.basic_get('default', no_ack=False) is not None\n"
        "    os._exit(0)  # like kill -9: no close, nothing given back\n"
    )
    subprocess.run([sys.executable, "-c", take_and_die, redis_server.url], check=True, timeout=60)
    assert _queue_length(redis_server) == 0  # taken, unacknowledged, invisible for visibility_timeout
    with app.connection_for_write() as connection:
        assert restore_unacknowledged(connection.default_channel) == 1
        assert restore_unacknowledged(connection.default_channel) == 0
    assert _queue_length(redis_server) == 1
    app.close()


def test_worker_parent_loads_the_db_driver_before_the_pool_forks(tmp_path: Path) -> None:
    """``run_worker`` imports psycopg in the parent, so no pool process imports it on its first try."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from dagflow.config import load_settings\n"
        "from dagflow.executors.celery.worker import warm_database_driver\n"
        "assert 'psycopg' not in sys.modules, 'psycopg is already imported: the test proves nothing'\n"
        f"warm_database_driver(load_settings({{'DAGFLOW_HOME': {str(tmp_path)!r},"
        f" 'DAGFLOW__DATABASE__SQL_ALCHEMY_CONN': {PG_URL!r}}}))\n"
        "assert 'psycopg' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
