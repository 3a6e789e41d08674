"""``dagflow celery worker``: warm Celery pool processes that run workloads with the task runner.

The parent process imports dagflow, the operators and the sensors once; Celery then
forks the prefork pool, so a pool process starts warm. Each pool process keeps its own
``DagCache`` (DAG files by path + mtime) and ``Database`` (made after the fork, so no
connection is shared) and runs each message with ``run_workload``: the same runner as
the LocalExecutor, which forks the try into its own process group (timeouts,
heartbeats, the try's log file and the undead kill all come from there).

Shutdown (SIGTERM, Ctrl-C): Celery's warm shutdown takes no new message; running tries
get ``celery.worker_shutdown_grace`` seconds to finish, then the parent terminates each
try's process group and the try's supervisor (its pool process) records the outcome
(``up_for_retry`` or ``failed``; the log says "received signal 15"). Messages not
started go back to the broker (``acks_late``). A cold shutdown (a second Ctrl-C,
SIGQUIT) or SIGKILL records nothing: the reaper finds those tries as zombies.

With ``celery.worker_log_server_port`` set, the parent serves the log folder on
``celery.worker_log_server_host`` to signed requests (``execution.log_server``; the
deployment's secret key, ``dagflow.keys``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psutil
from celery import signals
from sqlalchemy import exc as sa_exc

from dagflow.exceptions import DatabaseError
from dagflow.execution.dag_cache import DagCache
from dagflow.execution.local_worker import kill_tree, warm_imports
from dagflow.execution.log_server import LogServer
from dagflow.execution.runner import run_workload
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.celery.app import (
    TASK_NAME,
    BrokerProbe,
    ForgedMessage,
    build_app,
    read_message,
    restore_unacknowledged,
)
from dagflow.executors.celery.broker_watch import BrokerWatch, broker_is_watched
from dagflow.executors.celery.executor import refuse_sqlite
from dagflow.keys import secret_key

if TYPE_CHECKING:
    from celery import Celery

    from dagflow.config import Settings
    from dagflow.db import Database

log = logging.getLogger(__name__)

#: Seconds between deliveries of a message whose try could not reach the metadata DB.
DB_RETRY_DELAY_S = 5.0

#: The line printed (stdout) once the worker consumes its queues.
READY_LINE = "celery worker ready: queues={queues} concurrency={concurrency}"


@dataclass
class PoolProcess:
    """What one pool process keeps between messages."""

    db: Database
    cache: DagCache = field(default_factory=DagCache)


_pool_process: PoolProcess | None = None
_pool_process_lock = threading.Lock()


def pool_process(settings: Settings) -> PoolProcess:
    """This process's warm state, made on its first message after the fork."""
    global _pool_process
    with _pool_process_lock:
        if _pool_process is None:
            from dagflow.db import Database

            _pool_process = PoolProcess(db=Database(settings))
        return _pool_process


def warm_database_driver(settings: Settings) -> None:
    """Import the metadata DB's driver (psycopg) in the worker's parent, before Celery forks the pool.

    Each pool process made its ``Database`` on its first message, so every one of them
    imported psycopg there, and the first try each ran waited for that import (a third of
    a second on a loaded host; an eighth of the worker's samples in a fanout300 profile).
    The engine itself is built when a pool process starts (``worker_process_init``); it
    connects on the first message, since Celery gives a starting pool process only a few
    seconds to report ready.
    """
    from dagflow.db import normalize_url

    normalize_url(settings.database.sql_alchemy_conn).get_dialect().import_dbapi()


class MetadataDbUnavailable(Exception):
    """The metadata DB could not be reached before the try started: deliver the message later."""


def run_message(settings: Settings, key: str, payload: Any) -> None:
    """The body of ``dagflow.run_workload``: run one try to its end (the outcome is in the DB).

    A message that the scheduler did not sign with ``key`` is refused and logged; nothing
    runs, and the task instance stays ``queued`` for the stuck-queued check.
    Raises ``MetadataDbUnavailable`` when the DB cannot be reached (a restart, a
    failover): nothing ran, and the task wrapper sends the message again after a pause
    instead of dropping it.
    """
    try:
        workload = read_message(key, payload)
    except ForgedMessage as exc:
        log.error("refused a broker message: %s", exc)
        return
    state = pool_process(settings)
    try:
        outcome = run_workload(workload, settings, db=state.db, dag_cache=state.cache, reuse_process=True)
    except (DatabaseError, sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise MetadataDbUnavailable(_first_line(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - the reaper and stuck-queued check take it from here
        log.error("%s: could not run: %s", workload.key, str(exc).splitlines()[0] if str(exc) else exc)
        return
    log.info(
        "%s: %s%s",
        workload.key,
        outcome.state.value if outcome.state else "gone",
        f" ({outcome.reason})" if outcome.reason else "",
    )


def build_worker_app(settings: Settings) -> Celery:
    """The Celery app with ``dagflow.run_workload`` registered (worker side).

    Remote control (the pidbox consumer behind ``celery inspect`` / ``control`` and
    Flower's worker pages) is off unless ``celery.worker_enable_remote_control``: on Redis
    it listens on a pubsub connection, and a broker restart noticed first on that
    connection made kombu close the worker's connection half-way
    (``AttributeError: 'NoneType' object has no attribute 'hostname'``), an
    "unrecoverable error" that ended the worker. Nothing in dagflow uses remote control:
    the metadata DB says what runs where.
    """
    app = build_app(settings)
    app.conf.worker_enable_remote_control = settings.celery.worker_enable_remote_control

    # While the metadata DB is away, a message is sent again every DB_RETRY_DELAY_S for
    # about task_queued_timeout; after that the scheduler's stuck-queued check owns it.
    max_db_retries = max(int(settings.scheduler.task_queued_timeout // DB_RETRY_DELAY_S), 1)
    key = secret_key(settings)

    @app.task(  # type: ignore[untyped-decorator]  # celery ships no types
        name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True, bind=True, shared=False
    )
    def run_workload_task(task: Any, payload: dict[str, Any]) -> None:
        try:
            run_message(settings, key, payload)
        except MetadataDbUnavailable as exc:
            name = TaskWorkload.from_dict(payload).key
            if task.request.retries >= max_db_retries:
                log.error("%s: metadata DB unreachable, giving the message up: %s", name, exc)
                return
            log.warning(
                "%s: metadata DB unreachable (%s); sending the message again in %.0f s", name, exc, DB_RETRY_DELAY_S
            )
            raise task.retry(countdown=DB_RETRY_DELAY_S, max_retries=max_db_retries, exc=exc) from None

    return app


def run_worker(settings: Settings, *, queues: list[str], concurrency: int, hostname: str | None = None) -> int:
    """Run a worker on ``queues`` until it is stopped; its exit code."""
    refuse_sqlite(settings)
    warm_imports()
    warm_database_driver(settings)
    app = build_worker_app(settings)
    server = _start_log_server(settings)
    _connect_signals(settings, server, queues, concurrency)
    worker = app.Worker(
        hostname=hostname or f"dagflow-{os.getpid()}@{socket.gethostname()}",
        queues=queues,
        concurrency=concurrency,
        pool="prefork",
        loglevel=settings.logging.level.upper(),
        quiet=True,
        without_gossip=True,
        without_mingle=True,
        optimization="fair",
        task_events=False,
    )
    try:
        worker.start()
    finally:
        if server is not None:
            server.stop()
    return int(worker.exitcode or 0)


def _start_log_server(settings: Settings) -> LogServer | None:
    port = settings.celery.worker_log_server_port
    if not port:
        return None
    host = settings.celery.worker_log_server_host
    try:
        server = LogServer(settings.logging.base_log_folder, secret_key(settings), port, host)
    except OSError as exc:  # another worker on this host has the port: run, but say so
        log.warning(
            "log server off: cannot listen on %s:%s (%s); readers on other hosts cannot fetch this worker's task logs",
            host,
            port,
            exc.strerror or exc,
        )
        return None
    server.start()
    scope = "this host only" if host.startswith("127.") or host in ("localhost", "::1") else "signed requests"
    log.info("serving task logs from %s on %s:%s (%s)", settings.logging.base_log_folder, host, server.port, scope)
    return server


def _connect_signals(settings: Settings, server: LogServer | None, queues: list[str], concurrency: int) -> None:
    def on_ready(sender: Any = None, **_: Any) -> None:
        if sender is not None and broker_is_watched(settings.celery.broker_url):
            _restore_unacknowledged(sender)
            watch_broker(sender)
        stdout = sys.__stdout__
        if stdout is not None:
            stdout.write(READY_LINE.format(queues=",".join(queues), concurrency=concurrency) + "\n")
            stdout.flush()

    def on_pool_process_init(**_: Any) -> None:
        if server is not None:
            server.close_inherited_socket()
        pool_process(settings)  # its engine now, not on the first message (no connection: see run_worker)

    def on_shutting_down(**_: Any) -> None:
        stopper = threading.Thread(
            target=_stop_running_tries,
            name="dagflow-shutdown-grace",
            daemon=True,
            args=(settings.celery.worker_shutdown_grace, settings.core.killed_task_cleanup_time),
        )
        stopper.start()

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_process_init.connect(on_pool_process_init, weak=False)
    signals.worker_shutting_down.connect(on_shutting_down, weak=False)


def _restore_unacknowledged(consumer: Any) -> None:
    """At start: messages a killed worker took but never acknowledged go back to their queues."""
    try:
        restored = restore_unacknowledged(consumer.task_consumer.channel)
    except Exception as exc:  # noqa: BLE001 - the stuck-queued check remains the fallback
        log.warning("could not restore unacknowledged messages: %s", _first_line(exc))
        return
    if restored:
        log.info("restored %d unacknowledged message(s) (taken by workers that may be gone)", restored)


class BrokerReconnect(ConnectionError):
    """Raised inside the worker's event loop: the broker came back or restarted, reconnect the consumer."""


def watch_broker(consumer: Any) -> BrokerWatch:
    """Make the worker's consumer reconnect whenever the broker comes back from an outage or restarts.

    With remote control off nothing of the worker listens on the broker while all its
    pool processes are busy: a Redis restart then went unnoticed, the consumer kept
    a dead connection and took no message again. The watch looks at the broker every
    second; on a comeback it raises ``BrokerReconnect`` (a connection error) inside the
    event loop (``hub.call_soon``, thread-safe), which is Celery's own path for a lost
    connection: close it, restore unacknowledged messages, connect again, consume.
    """
    app = consumer.app
    hub = consumer.hub

    def lost() -> None:
        raise BrokerReconnect("the broker came back from an outage or restarted: reconnecting")

    def on_reconnect() -> None:
        if hub is not None:
            hub.call_soon(lost)

    watch = BrokerWatch(BrokerProbe(app), on_reconnect=on_reconnect, name="dagflow-worker-broker-watch")
    watch.start()
    return watch


def _stop_running_tries(grace_s: float, cleanup_s: float) -> None:
    """In the parent, once shutdown began: after ``grace_s`` terminate the running tries.

    A try's process group gets SIGTERM; its supervisor (the pool process) records the
    outcome, the task returns and the pool process exits as in any warm shutdown. A
    try still alive ``cleanup_s`` later is SIGKILLed with its descendants (the
    supervisor records the crash).
    """
    time.sleep(grace_s)
    tries = _running_tries()
    if not tries:
        return
    log.warning("shutdown grace of %ss over: terminating %s running tries", grace_s, len(tries))
    for task_process in tries:
        _signal_group(task_process.pid, signal.SIGTERM)
    time.sleep(cleanup_s + 1)
    for task_process in _running_tries():
        kill_tree(task_process.pid)


def _running_tries() -> list[Any]:
    """The task processes of this worker (children of its pool processes)."""
    return [task for pool in _children(psutil.Process()) for task in _children(pool)]


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum) if os.getpgid(pid) == pid else os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _children(process: Any) -> list[Any]:
    try:
        return list(process.children())
    except psutil.Error:
        return []


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
