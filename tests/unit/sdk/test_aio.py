"""Coroutines run to their end from synchronous code, also where the thread already runs an event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any

import pytest

from dagflow.sdk.aio import run_to_end
from dagflow.sdk.callables import call_with_context


async def _double(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


async def _fail() -> None:
    raise ValueError("inside the coroutine")


def _in_a_thread_of_its_own(coro: Coroutine[Any, Any, Any]) -> Any:
    """``asyncio.run(coro)`` in a new thread: the test process's main thread may itself run a loop
    (Playwright's sync API, when a browser test ran in this process first)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coro)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def test_without_a_running_loop() -> None:
    assert _in_a_thread_of_its_own(asyncio.sleep(0, result=1)) == 1
    assert run_to_end(_double(4)) == 8


def test_inside_a_running_loop_as_in_a_notebook() -> None:
    async def notebook_cell() -> tuple[int, object]:
        # synchronous code called from a cell: asyncio.run would refuse here
        return run_to_end(_double(5)), call_with_context(_double, (6,), {}, {})

    assert _in_a_thread_of_its_own(notebook_cell()) == (10, 12)


def test_the_coroutines_exception_reaches_the_caller_in_a_running_loop() -> None:
    async def cell() -> None:
        run_to_end(_fail())

    with pytest.raises(ValueError, match="inside the coroutine"):
        _in_a_thread_of_its_own(cell())
