"""The CeleryExecutor: publish workloads to a Redis or RabbitMQ broker, learn from the DB when they end.

``submit_many`` publishes ``dagflow.run_workload`` to each workload's queue (one message
per try, a tick's messages in one round trip to the broker) and tracks ``(ti_id, try_number)``; a worker listening on that queue runs it with the same runner
as the LocalExecutor. Workers record outcomes in the metadata DB, which is the truth;
the scheduler hears about them two ways:

- events: on PostgreSQL a listener (``execution.events``) receives the ``ti_done``
  notification a worker publishes when a try's outcome commits, turns it into a
  ``TaskEvent`` and sets ``wakeup`` at once;
- reconciliation: every ``RECONCILE_INTERVAL_S`` one query reads the tracked task
  instances back; a try that ended, moved on or will not run any more becomes an event.
  This stays on even with events, so a lost notification never leaks a slot.

A broker that cannot be reached does not stop the scheduler: the workload stays
``queued`` and is held here (its slot kept), one line is logged, publishing pauses for
``BROKER_BACKOFF_S`` and the held workloads are published once it answers. A Redis broker
is watched (``broker_watch``): after it comes back from an outage or restarts, the tries
published before that moment that no worker has claimed are sent again at the next
reconciliation, since the broker may have lost them (the stuck-queued check stays the
last resort). Workers on other machines cannot share a SQLite file, so a SQLite metadata
DB is refused.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.exceptions import ConfigError
from dagflow.execution.events import TI_DONE, EventListener
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent, drain
from dagflow.executors.celery.app import BrokerProbe, broker_errors, build_app, safe_broker_url, send_workloads
from dagflow.executors.celery.broker_watch import BrokerWatch, broker_is_watched
from dagflow.keys import secret_key
from dagflow.models.taskinstance import TaskInstance
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database

log = logging.getLogger(__name__)

#: Seconds between two reconciliations of the tracked tries against the DB.
RECONCILE_INTERVAL_S = 2.0
#: Seconds publishing pauses after the broker could not be reached.
BROKER_BACKOFF_S = 5.0
#: Task instances read back per query.
RECONCILE_CHUNK = 500

TI = TaskInstanceState


def refuse_sqlite(settings: Settings) -> None:
    """``ConfigError`` if the metadata DB is SQLite (Celery workers need a shared server DB)."""
    if settings.database.sql_alchemy_conn.startswith("sqlite"):
        raise ConfigError(
            "CeleryExecutor needs a PostgreSQL metadata database "
            "(database.sql_alchemy_conn is SQLite, which workers on other hosts cannot share)"
        )


class CeleryExecutor(BaseExecutor):
    """Runs workloads on Celery workers; events from PostgreSQL NOTIFY, the DB as fallback."""

    logs_on_workers = True
    settings: Settings  # always given to this executor

    def __init__(self, settings: Settings, *, db: Database | None = None, parallelism: int | None = None) -> None:
        refuse_sqlite(settings)
        super().__init__(settings, db=db, parallelism=parallelism)
        self._db = db
        self._own_db = db is None
        self._app: Any = None
        self._key = ""
        self._listener: EventListener | None = None
        self._events: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        self._reconcile_at = 0.0
        self._broker_down_until = 0.0
        self._broker_errors = broker_errors()
        self._sent: dict[tuple[int, int], tuple[TaskWorkload, float]] = {}
        self._unsent: dict[tuple[int, int], TaskWorkload] = {}
        self._watch: BrokerWatch | None = None
        self._probe: BrokerProbe | None = None
        self._resent_for = 0.0

    def start(self) -> None:
        """Build the Celery app and start listening for ``ti_done`` events (idempotent)."""
        if self._app is not None:
            return
        if self._db is None:
            from dagflow.db import Database

            self._db = Database(self.settings)
        self._key = secret_key(self.settings)
        self._app = build_app(self.settings)
        self._listener = EventListener(
            self.settings, self._on_notification, on_connect=self._resync, name="celery-executor-events"
        )
        self._listener.start()
        if broker_is_watched(self.settings.celery.broker_url):
            self._probe = BrokerProbe(self._app)
            self._watch = BrokerWatch(self._probe, on_reconnect=self._resync)
            self._watch.start()

    # --- submit ---------------------------------------------------------------------------
    def submit(self, workload: TaskWorkload) -> None:
        """Publish ``workload`` to its queue; kept and published again once the broker is back if it is away."""
        self.submit_many([workload])

    def submit_many(self, workloads: list[TaskWorkload]) -> None:
        """Publish ``workloads`` (one message each) in one round trip; held while the broker is away."""
        if not workloads:
            return
        self.start()
        for workload in workloads:
            self._track(workload)  # before publishing: its ti_done may arrive before send returns
        if time.monotonic() < self._broker_down_until:
            log.debug("broker backoff: %d workload(s) held until the broker is back", len(workloads))
            for workload in workloads:
                self._unsent[(workload.ti_id, workload.try_number)] = workload
            return
        self._publish(workloads)

    def _publish(self, workloads: list[TaskWorkload]) -> bool:
        """Send ``workloads`` in one batch; on a broker error keep them all for later and pause publishing."""
        try:
            send_workloads(self._app, workloads, self.settings, self._key)
        except self._broker_errors as exc:
            for workload in workloads:
                self._unsent[(workload.ti_id, workload.try_number)] = workload
            self._broker_down_until = time.monotonic() + BROKER_BACKOFF_S
            held = workloads[0].key if len(workloads) == 1 else f"{len(workloads)} workloads"
            log.error(
                "broker %s unreachable (%s): %s held, publishing paused for %ss (sent once the broker answers)",
                safe_broker_url(self.settings.celery.broker_url),
                _one_line(exc),
                held,
                BROKER_BACKOFF_S,
            )
            return False
        sent_at = time.monotonic()
        for workload in workloads:
            key = (workload.ti_id, workload.try_number)
            self._unsent.pop(key, None)
            self._sent[key] = (workload, sent_at)
        return True

    def _publish_held(self) -> None:
        """Publish the workloads held while the broker was away, once it is due again."""
        if not self._unsent or time.monotonic() < self._broker_down_until:
            return
        held = [w for key, w in sorted(self._unsent.items()) if key in self.running]
        self._unsent = {}
        if held and self._publish(held):
            log.info("broker back: published %d held workload(s)", len(held))

    def _resend_lost(self, rows: dict[int, tuple[TaskInstanceState, int]]) -> None:
        """After a broker reconnect, send again what was published before it and no worker claimed.

        The broker may have lost those messages (Redis restarted without persistence); a
        message that did survive is harmless twice: the second claim loses the
        compare-and-set and runs nothing.
        """
        if self._watch is None:
            return
        reconnected_at = self._watch.reconnected_at
        if reconnected_at <= self._resent_for:
            return
        self._resent_for = reconnected_at
        lost = [
            workload
            for (ti_id, try_number), (workload, sent_at) in sorted(self._sent.items())
            if sent_at <= reconnected_at and rows.get(ti_id) == (TI.QUEUED, try_number - 1)
        ]
        if lost:
            self._publish(lost)
            log.warning("broker reconnect: re-sent %d workload(s) no worker had claimed", len(lost))

    # --- events ---------------------------------------------------------------------------
    def _on_notification(self, kind: str, fields: dict[str, Any]) -> None:
        """Listener thread: a try's outcome committed somewhere."""
        if kind != TI_DONE:
            return
        try:
            key = (int(fields["ti_id"]), int(fields["try_number"]))
        except (KeyError, TypeError, ValueError):
            return
        if key not in self.running:
            return
        state = _state(fields.get("state"))
        self._events.put(TaskEvent(key[0], key[1], state, "done"))
        self.wakeup.set()

    def _resync(self) -> None:
        """Listener or broker (re)connected: something may have been missed, reconcile at the next poll."""
        self._reconcile_at = 0.0
        self.wakeup.set()

    def poll(self) -> list[TaskEvent]:
        """Events from notifications, plus a reconciliation against the DB when it is due."""
        self._publish_held()
        events: list[TaskEvent] = drain(self._events)
        if self.running and time.monotonic() >= self._reconcile_at:
            events.extend(self._reconcile())
            self._reconcile_at = time.monotonic() + RECONCILE_INTERVAL_S
        fresh = []
        for event in events:
            key = (event.ti_id, event.try_number)
            if key in self.running:
                self.running.discard(key)
                fresh.append(event)
            self._sent.pop(key, None)
            self._unsent.pop(key, None)
        return fresh

    def _reconcile(self) -> list[TaskEvent]:
        """One read of the tracked task instances; an event for each try that will not run on."""
        assert self._db is not None
        tracked = sorted(self.running)
        try:
            rows = _read_tis(self._db, (ti_id for ti_id, _ in tracked))
        except sa.exc.SQLAlchemyError as exc:
            log.warning("could not reconcile running tries with the DB: %s", _one_line(exc))
            return []
        self._resend_lost(rows)
        events = []
        for ti_id, try_number in tracked:
            event = ended_event(ti_id, try_number, rows.get(ti_id))
            if event is not None:
                events.append(event)
        return events

    def shutdown(self) -> None:
        """Stop listening and close broker connections; running tries go on on the workers."""
        if self._watch is not None:
            self._watch.stop()
            self._watch = None
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._app is not None:
            self._app.close()
            self._app = None
        if self._own_db and self._db is not None:
            self._db.dispose()
            self._db = None


def ended_event(ti_id: int, try_number: int, row: tuple[TaskInstanceState, int] | None) -> TaskEvent | None:
    """The event for tracked try ``try_number`` given the row's (state, try_number); None if still on.

    Still on: ``queued`` at the previous try number (waiting for a worker) or ``running``
    this try. Anything else (an outcome, a later try, cleared, handed back) ended it.
    """
    if row is None:
        return TaskEvent(ti_id, try_number, None, "task instance vanished")
    state, current = row
    if (state is TI.QUEUED and current == try_number - 1) or (state is TI.RUNNING and current == try_number):
        return None
    return TaskEvent(ti_id, try_number, state, f"reconciled: {state.value}, try {current}")


def _read_tis(db: Database, ti_ids: Iterable[int]) -> dict[int, tuple[TaskInstanceState, int]]:
    ids = sorted(set(ti_ids))
    rows: dict[int, tuple[TaskInstanceState, int]] = {}
    with db.transaction(readonly=True) as session:
        for start in range(0, len(ids), RECONCILE_CHUNK):
            chunk = ids[start : start + RECONCILE_CHUNK]
            for ti_id, state, try_number in session.execute(
                sa.select(TaskInstance.id, TaskInstance.state, TaskInstance.try_number).where(
                    TaskInstance.id.in_(chunk)
                )
            ):
                rows[ti_id] = (state, try_number)
    return rows


def _state(value: Any) -> TaskInstanceState | None:
    try:
        return TaskInstanceState(value)
    except ValueError:
        return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
