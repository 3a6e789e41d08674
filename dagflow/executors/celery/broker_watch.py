"""``BrokerWatch``: a thread that notices when the broker comes back from an outage or was restarted.

Every ``interval_s`` it asks which broker server answers (``app.BrokerProbe``: Redis's
``run_id``, which changes at every start). The moment it sees the broker again after it
was unreachable, or sees a different server than before, it records a *reconnect*:
messages published before that moment may have been lost with the broker's memory
(Redis without persistence, or a failover). The executor then re-sends the tries it
published before the reconnect that no worker has claimed yet, instead of waiting
``scheduler.task_queued_timeout``; the claim's compare-and-set makes a message that was
not lost after all a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between two looks at the broker.
WATCH_INTERVAL_S = 1.0
#: Brokers that lose messages when they restart (RabbitMQ keeps Celery's durable queues and
#: persistent messages, and its connections have heartbeats: it is not watched).
WATCHED_SCHEMES = ("redis://", "rediss://", "sentinel://")


def broker_is_watched(broker_url: str) -> bool:
    """True for a Redis broker (see ``WATCHED_SCHEMES``)."""
    return broker_url.startswith(WATCHED_SCHEMES)


class BrokerWatch:
    """Looks at the broker every ``interval_s``; ``reconnected_at`` is the monotonic time of the last comeback."""

    def __init__(
        self,
        probe: Callable[[], str | None],
        *,
        on_reconnect: Callable[[], None] | None = None,
        interval_s: float = WATCH_INTERVAL_S,
        name: str = "celery-broker-watch",
    ) -> None:
        self._probe = probe
        self._on_reconnect = on_reconnect
        self._interval_s = interval_s
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._instance: str | None = None
        self._lost_since: float | None = None
        #: Monotonic time of the last reconnect seen (0.0: none yet).
        self.reconnected_at = 0.0
        #: How many reconnects were seen.
        self.reconnects = 0

    def start(self) -> None:
        """Start the thread (idempotent); the first look happens at once."""
        if self._thread is not None:
            return
        self.check()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.check()

    def check(self) -> bool:
        """Look at the broker once; True if this look saw a reconnect."""
        instance = self._probe()
        now = time.monotonic()
        if instance is None:
            if self._lost_since is None:
                self._lost_since = now
                log.warning("broker unreachable: messages published before it comes back may be re-sent")
            return False
        came_back = self._lost_since is not None
        restarted = self._instance is not None and instance != self._instance
        self._instance = instance
        if not (came_back or restarted):
            return False
        away = f" after {now - self._lost_since:.1f}s away" if self._lost_since is not None else ""
        self._lost_since = None
        self.reconnected_at = now
        self.reconnects += 1
        log.warning("broker back%s%s", away, " (a new server: its queues were lost)" if restarted else "")
        if self._on_reconnect is not None:
            self._on_reconnect()
        return True
