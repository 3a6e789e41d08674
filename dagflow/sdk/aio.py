"""Running a coroutine to its end from synchronous code, whether or not this thread already runs an event loop.

``asyncio.run`` refuses to start inside a running loop: a notebook (Jupyter runs one), or a
library that keeps one in the main thread (Playwright's sync API). There the coroutine runs
in a short-lived thread with a loop of its own, and this call waits for it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_to_end(coro: Coroutine[Any, Any, T]) -> T:
    """The coroutine's result (or its exception), run in a fresh event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="dagflow-coroutine", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    value: T = outcome["value"]
    return value
