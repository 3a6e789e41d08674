"""The Celery app, built from ``Settings``, and the name of dagflow's one task.

The broker only carries "run task instance K, try N": the task ``dagflow.run_workload``
takes one argument, ``TaskWorkload.to_dict()`` signed with the deployment's secret key
(HMAC-SHA256, ``execution.signing``). A worker refuses a message that is unsigned or
badly signed, and trusts nothing in a good one but the task instance key and the try
number: the DAG file and the rest come from the row it claims. There is no result backend (outcomes
are in the metadata DB). Messages are acknowledged after the try ends (``acks_late``)
and given back to the broker if the worker process dies (``task_reject_on_worker_lost``);
a redelivered message loses the ``queued -> running`` compare-and-set and does nothing,
so a try never runs twice. Each pool process reserves one message at a time
(prefetch multiplier 1), so a long task does not hold others back.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from celery import Celery
from kombu.utils.url import maybe_sanitize_url

from dagflow.execution.signing import SIGNATURE_FIELD, payload_is_signed, sign_payload
from dagflow.execution.workload import TaskWorkload

if TYPE_CHECKING:
    from dagflow.config import Settings

TASK_NAME = "dagflow.run_workload"
#: Seconds to wait for the broker when connecting (the scheduler must not hang on it).
BROKER_CONNECT_TIMEOUT_S = 3.0
#: SDK default of ``BaseOperator.queue``: such tasks go to ``celery.default_queue``.
SDK_DEFAULT_QUEUE = "default"


def build_app(settings: Settings) -> Celery:
    """A Celery app configured from ``settings.celery`` (no task registered)."""
    celery = settings.celery
    app = Celery("dagflow", set_as_current=False)
    app.conf.update(
        broker_url=celery.broker_url,
        result_backend=None,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": int(celery.visibility_timeout)},
        task_default_queue=celery.default_queue,
        task_create_missing_queues=True,
        broker_connection_timeout=BROKER_CONNECT_TIMEOUT_S,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


def queue_for(workload: TaskWorkload, settings: Settings) -> str:
    """The broker queue of ``workload``: its ``queue``, or ``celery.default_queue`` if it set none."""
    if not workload.queue or workload.queue == SDK_DEFAULT_QUEUE:
        return settings.celery.default_queue
    return workload.queue


def send_workload(app: Celery, workload: TaskWorkload, settings: Settings, key: str) -> None:
    """Publish ``workload``, signed with ``key``, to its queue. Raises on broker errors."""
    send_workloads(app, [workload], settings, key)


def send_workloads(app: Celery, workloads: list[TaskWorkload], settings: Settings, key: str) -> None:
    """Publish ``workloads``, one message each, in one round trip to the broker. Raises on broker errors.

    The scheduler queues up to a tick's free slots at once; one message per try still
    (each is acknowledged, redelivered and claimed on its own), but kombu's publish batch
    (``Producer.batch``, kombu 5.7, Redis) sends them in one pipeline instead of one
    ``LPUSH`` round trip each. A broker error may leave some of them sent: the caller
    sends them all again later, and a try's second message loses the claim's
    compare-and-set and runs nothing. One workload (a chain's tick) is sent without
    the batch, whose set-up costs more than it saves; other transports (RabbitMQ), or an
    older kombu, publish one by one.
    """
    with app.producer_or_acquire() as producer:
        batch = getattr(producer, "batch", None)
        with batch() if batch is not None and len(workloads) > 1 else nullcontext():
            for workload in workloads:
                message = sign_payload(key, workload.to_dict())
                app.send_task(TASK_NAME, args=[message], queue=queue_for(workload, settings), producer=producer)


def read_message(key: str, payload: Any) -> TaskWorkload:
    """The workload a message carries, if the scheduler signed it; ``ForgedMessage`` if not."""
    if not isinstance(payload, dict):
        raise ForgedMessage(f"not a workload message ({type(payload).__name__})")
    if not payload_is_signed(key, payload):
        reason = "unsigned" if SIGNATURE_FIELD not in payload else "bad signature"
        raise ForgedMessage(f"{reason} (ti_id {payload.get('ti_id')!r}, {payload.get('dag_id')!r})")
    try:
        return TaskWorkload.from_dict(payload)
    except (TypeError, ValueError) as exc:
        raise ForgedMessage(f"malformed workload: {exc}") from None


class ForgedMessage(Exception):
    """A broker message that the scheduler did not sign, or that does not hold a workload."""


def broker_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a publish raises when the broker cannot be reached."""
    from kombu import exceptions

    batch_failed: tuple[type[BaseException], ...] = ()
    if hasattr(exceptions, "BatchPublishError"):  # kombu >= 5.7: a publish batch's flush failed
        batch_failed = (exceptions.BatchPublishError,)
    return (exceptions.OperationalError, *batch_failed, ConnectionError, OSError, TimeoutError)


def safe_broker_url(url: str) -> str:
    """``url`` with its password masked, for log lines."""
    sanitized: Any = maybe_sanitize_url(url)
    return str(sanitized)


class BrokerProbe:
    """Which broker server answers now: Redis's ``run_id`` (new at every start), ``"up"`` for others; None if away.

    A Redis server that restarted without persistence has lost every message it held,
    so a changed ``run_id`` is how the executor learns that what it sent may be gone.
    The broker watch asks every second, on a connection kept between looks: a new
    connection per look cost about 1.8 ms of CPU (kombu's connection and channel set-up)
    in the scheduler and in every worker's main process, each second; a kept one costs
    an ``INFO``. A look whose kept connection fails tries once more on a new
    one, as every look did before, so a broker restarted between two looks is seen as
    a new server, not as away.
    """

    def __init__(self, app: Celery) -> None:
        self._app = app
        self._connection: Any = None

    def __call__(self) -> str | None:
        if self._connection is not None:
            answer = self._ask()
            if answer is not None:
                return answer
        return self._ask()

    def _ask(self) -> str | None:
        try:
            if self._connection is None:
                self._connection = self._app.connection_for_write()
                self._connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            if self._connection.transport.driver_type != "redis":
                return "up"
            # The channel's synchronous client: its connection pool keeps the connection (the
            # asynchronous ``channel.client`` connected anew at every look in a worker).
            with self._connection.default_channel.conn_or_acquire() as client:
                info = client.info("server")
            return str(info.get("run_id") or "up")
        except Exception:  # noqa: BLE001 - any failure (refused, timeout, protocol) means "not reachable now"
            self.close()
            return None

    def close(self) -> None:
        """Close the kept connection (the next look opens one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001, S110 - a broken connection may fail to close; it is dropped anyway
                pass


def restore_unacknowledged(channel: Any) -> int:
    """Redis: put every message taken but not acknowledged back on its queue; how many.

    Run when a worker starts. A worker killed after taking a message and before its try
    was claimed leaves that message in Redis's unacknowledged set until
    ``celery.visibility_timeout`` (hours); until then only the stuck-queued check would
    send it again. Messages of live workers come back too: their second delivery loses
    the claim's compare-and-set and does nothing, and the first worker's late
    acknowledgement finds nothing to remove. Other brokers give such messages back by
    themselves (RabbitMQ on the lost connection): 0.
    """
    from kombu.transport.redis import Mutex, MutexHeld

    qos = getattr(channel, "qos", None)
    index_key = getattr(channel, "unacked_index_key", None)
    if qos is None or index_key is None or not hasattr(qos, "restore_by_tag"):
        return 0
    restored = 0
    with channel.conn_or_acquire() as client:
        try:
            with Mutex(client, channel.unacked_mutex_key, channel.unacked_mutex_expire):
                for tag in client.zrange(index_key, 0, -1):
                    qos.restore_by_tag(tag, client)
                    restored += 1
        except MutexHeld:  # another worker is restoring right now
            return 0
    return restored
