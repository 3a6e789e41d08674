"""Acting on SIGINT/SIGTERM without taking a lock inside the signal handler.

A Python signal handler runs in the main thread between two bytecodes, possibly while
that thread holds a lock. ``threading.Event.set()`` called from a handler deadlocks for
good when the signal lands while the main thread is inside the same event's ``wait()``
or ``clear()`` (its lock is not reentrant): a scheduler stopped that way never exits.

``on_signals`` installs handlers that only write the signal number to a pipe, which
takes no lock; a small thread reads the pipe and calls the action like any other
thread would. A process forked while the handlers are installed (a callback process, a
new worker) keeps the default behaviour for those signals instead of relaying them to
its parent's pipe.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM)


#: Written by the owner when it leaves ``on_signals``: the relay returns (no signal is 0).
_END = 0


@contextmanager
def on_signals(
    action: Callable[[signal.Signals], object], signals: Sequence[signal.Signals] = STOP_SIGNALS
) -> Iterator[None]:
    """While inside, each of ``signals`` calls ``action(signal)`` from a relay thread."""
    owner = os.getpid()
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked child that did not set its own handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        try:
            os.write(write_fd, bytes([signum]))
        except OSError:  # the pipe is full: plenty of signals are already on their way
            pass

    def relay() -> None:
        while True:
            for signum in os.read(read_fd, 64):
                if signum == _END:
                    return
                try:
                    action(signal.Signals(signum))
                except Exception:
                    log.exception("acting on %s failed", signal.Signals(signum).name)

    thread = threading.Thread(target=relay, name="dagflow-signal-relay", daemon=True)
    thread.start()
    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in signals:  # ValueError outside the main thread: nothing is left behind
            previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        os.write(write_fd, bytes([_END]))  # not end-of-file: forked children hold the write end too
        thread.join(5)
        os.close(write_fd)
        os.close(read_fd)
