"""Cross-process events on PostgreSQL: ``LISTEN/NOTIFY`` on one channel, JSON payloads.

An event only says "look at this again soon"; the database stays the truth, and every
consumer keeps polling as the fallback (a notification lost while a listener
reconnects costs one poll interval, never a task).

- ``publish(session, kind, **fields)`` runs ``pg_notify`` inside the caller's
  transaction: PostgreSQL delivers it when (and only if) that transaction commits, so
  a listener never hears of a state that is not there yet. On other databases it does
  nothing.
- ``EventListener(settings, callback)`` keeps a dedicated psycopg connection in
  autocommit, ``LISTEN``s on ``CHANNEL`` in a daemon thread and calls
  ``callback(kind, fields)`` for each event. A lost connection is reopened with
  backoff (``on_connect`` runs after every (re)connect, so a consumer can resync what
  it may have missed). On other databases ``start()`` does nothing.

Kinds (``KINDS``): ``ti_done`` ``{ti_id, try_number, state, dag_id, run_id}`` when a
try's outcome commits (``execution/record.py``); ``run_queued`` ``{dag_id, run_id}``
when a run is triggered or cleared back to queued; ``run_changed`` ``{dag_id,
run_id}`` when a person changed a run's task instances (mark success/failed/skipped).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.db import normalize_url

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.orm import Session

    from dagflow.config import Settings

log = logging.getLogger(__name__)

CHANNEL = "dagflow_events"
TI_DONE = "ti_done"
RUN_QUEUED = "run_queued"
RUN_CHANGED = "run_changed"
KINDS = (TI_DONE, RUN_QUEUED, RUN_CHANGED)
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7999
#: ``application_name`` of the listener's connection (visible in ``pg_stat_activity``).
APPLICATION_NAME = "dagflow-events"

EventCallback = Callable[[str, dict[str, Any]], None]


# --- payloads ------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"event field of type {type(value).__name__} is not JSON")


def encode(kind: str, fields: Mapping[str, Any]) -> str:
    """The NOTIFY payload for ``kind`` and ``fields`` (compact JSON; ``ValueError`` if too big)."""
    if not kind or not isinstance(kind, str):
        raise ValueError(f"event kind must be a non-empty string, got {kind!r}")
    if "kind" in fields:
        raise ValueError("'kind' is reserved in event fields")
    payload = json.dumps({"kind": kind, **fields}, default=_plain, separators=(",", ":"), sort_keys=True)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"event {kind!r} payload is {len(payload.encode())} bytes (limit {MAX_PAYLOAD_BYTES})")
    return payload


def decode(payload: str) -> tuple[str, dict[str, Any]] | None:
    """``(kind, fields)`` from a payload; None (and a warning) if it is not one of ours."""
    try:
        data = json.loads(payload)
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        log.warning("ignoring a malformed event on %s: %.200r", CHANNEL, payload)
        return None
    kind = data.pop("kind")
    return kind, data


def publish(session: Session, kind: str, **fields: Any) -> None:
    """Queue an event in ``session``'s transaction (delivered at commit; PostgreSQL only)."""
    notify = notify_clause(session, kind, **fields)
    if notify is not None:
        session.execute(sa.select(notify))


def notify_clause(session: Session, kind: str, **fields: Any) -> sa.ColumnElement[Any] | None:
    """``publish`` as an SQL expression, to ride in a statement the transaction makes anyway
    (``RETURNING pg_notify(…)`` of a one-row write: queued only if the row is written,
    delivered at commit); None on other databases."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return sa.func.pg_notify(CHANNEL, encode(kind, fields))


# --- listening -----------------------------------------------------------------------------
def listener_conninfo(settings: Settings) -> str | None:
    """The libpq URL of the metadata DB for a listener; None when it is not PostgreSQL."""
    url = normalize_url(settings.database.sql_alchemy_conn)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class EventListener:
    """``LISTEN`` on ``CHANNEL`` in a daemon thread; ``callback(kind, fields)`` per event.

    ``callback`` and ``on_connect`` run in the listener's thread: keep them short and
    thread-safe (set a flag, put in a queue, set an ``Event``). An exception they raise
    is logged and the listener carries on.
    """

    #: How long one wait for notifications lasts; bounds how long ``stop()`` takes.
    wait_s = 0.25
    #: Backoff between reconnect attempts: doubles from the first value up to the second.
    backoff_s = (0.2, 10.0)
    #: An idle connection is checked with ``SELECT 1`` this often (finds a dead peer).
    health_check_s = 30.0
    connect_timeout_s = 5

    def __init__(
        self,
        settings: Settings,
        callback: EventCallback,
        *,
        on_connect: Callable[[], None] | None = None,
        name: str = "dagflow-events",
    ) -> None:
        self.conninfo = listener_conninfo(settings)
        self.callback = callback
        self.on_connect = on_connect
        self.name = name
        self.connects = 0
        self.received = 0
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        """True on PostgreSQL (elsewhere the listener does nothing)."""
        return self.conninfo is not None

    def start(self) -> None:
        """Start the thread (no-op on other databases or when already started)."""
        if not self.enabled or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close the connection (returns within about ``wait_s``)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    def wait_connected(self, timeout: float) -> bool:
        """Block until ``LISTEN`` is in place (True) or ``timeout`` passes (False)."""
        return self._connected.wait(timeout)

    # --- the thread ---------------------------------------------------------------------
    def _run(self) -> None:
        import psycopg

        delay = self.backoff_s[0]
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    delay = self.backoff_s[0]
                    self._listen(conn)
            except psycopg.Error as exc:
                if self._stop.is_set():
                    break
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                log.warning("event listener: connection lost (%s); reconnecting in %.1fs", reason, delay)
            finally:
                self._connected.clear()
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff_s[1])

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        assert self.conninfo is not None
        return psycopg.connect(
            self.conninfo,
            autocommit=True,
            connect_timeout=self.connect_timeout_s,
            application_name=APPLICATION_NAME,
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )

    def _listen(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(f"LISTEN {CHANNEL}")
        self.connects += 1
        self._connected.set()
        log.debug("event listener: listening on %s (backend pid %s)", CHANNEL, conn.info.backend_pid)
        self._safely(self.on_connect)
        checked = time.monotonic()
        while not self._stop.is_set():
            got = 0
            for notify in conn.notifies(timeout=self.wait_s):
                got += 1
                self._dispatch(notify.payload)
                if self._stop.is_set():
                    return
            now = time.monotonic()
            if got:
                checked = now
            elif now - checked >= self.health_check_s:
                conn.execute("SELECT 1")
                checked = now

    def _dispatch(self, payload: str) -> None:
        event = decode(payload)
        if event is None:
            return
        self.received += 1
        kind, fields = event
        self._safely(lambda: self.callback(kind, fields))

    def _safely(self, fn: Callable[[], object] | None) -> None:
        if fn is None:
            return
        try:
            fn()
        except Exception:  # a consumer's bug must not kill the listener
            log.exception("event listener: callback failed")
