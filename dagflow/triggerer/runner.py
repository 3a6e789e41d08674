"""The asyncio side of the triggerer: one task per trigger, events collected for the DB writer.

``TriggerRunner`` lives in one event loop. ``update(wanted)`` starts the triggers that
are new and cancels the ones no longer assigned here; each trigger's first event (or its
failure) lands in ``outcomes``, which the loop drains and writes. ``run_inline`` runs a
single trigger to its first event in a fresh loop (``dags test`` has no triggerer).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dagflow.sdk.aio import run_to_end
from dagflow.triggers.base import BaseTrigger, TriggerRuntime, trigger_from_classpath

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriggerOutcome:
    """How one trigger ended: its event's payload, or why it failed."""

    trigger_id: int
    payload: Any = None
    error: str | None = None


class TriggerRunner:
    """Runs triggers as asyncio tasks in the current loop (no blocking calls here)."""

    def __init__(self, runtime: TriggerRuntime | None = None) -> None:
        self.runtime = runtime
        self.tasks: dict[int, asyncio.Task[None]] = {}
        self.outcomes: list[TriggerOutcome] = []
        self.wakeup = asyncio.Event()

    def update(self, wanted: Mapping[int, tuple[str, dict[str, Any]]]) -> None:
        """Run exactly the triggers in ``wanted`` (id -> (classpath, kwargs)), minus the ones that ended."""
        done = {outcome.trigger_id for outcome in self.outcomes}
        for trigger_id in list(self.tasks):
            if trigger_id not in wanted:
                self.tasks.pop(trigger_id).cancel()
        for trigger_id, (classpath, kwargs) in wanted.items():
            if trigger_id in self.tasks or trigger_id in done:
                continue
            try:
                trigger = trigger_from_classpath(classpath, kwargs)
            except Exception as exc:  # noqa: BLE001 - a trigger that cannot be built fails its tasks
                self._finish(TriggerOutcome(trigger_id, error=f"cannot build trigger {classpath}: {exc}"))
                continue
            trigger.runtime = self.runtime
            self.tasks[trigger_id] = asyncio.create_task(self._watch(trigger_id, trigger), name=f"trigger-{trigger_id}")

    def take_outcomes(self) -> list[TriggerOutcome]:
        """The outcomes since the last call (their tasks are gone)."""
        outcomes, self.outcomes = self.outcomes, []
        return outcomes

    async def _watch(self, trigger_id: int, trigger: BaseTrigger) -> None:
        try:
            payload = await first_event(trigger)
        except asyncio.CancelledError:
            _cleanup(trigger)
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the task instances, never kills the loop
            log.warning("trigger %s (%r) failed: %s", trigger_id, trigger, exc)
            self._finish(TriggerOutcome(trigger_id, error=_describe(exc)))
        else:
            self._finish(TriggerOutcome(trigger_id, payload=payload))
        finally:
            self.tasks.pop(trigger_id, None)
        _cleanup(trigger)

    def _finish(self, outcome: TriggerOutcome) -> None:
        self.outcomes.append(outcome)
        self.wakeup.set()

    async def cancel_all(self) -> None:
        """Cancel every running trigger and wait for them to stop."""
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()


async def first_event(trigger: BaseTrigger) -> Any:
    """The payload of the first event ``trigger.run()`` yields; an error if it ends without one."""
    events = trigger.run()
    try:
        async for event in events:
            return event.payload
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    raise RuntimeError(f"trigger {trigger!r} ended without an event")


def run_inline(
    classpath: str, kwargs: Mapping[str, Any], runtime: TriggerRuntime | None, *, timeout_s: float | None
) -> TriggerOutcome:
    """Run one trigger to its first event in a fresh event loop (at most ``timeout_s``); id 0."""

    async def main() -> Any:
        trigger = trigger_from_classpath(classpath, kwargs)
        trigger.runtime = runtime
        try:
            return await asyncio.wait_for(first_event(trigger), timeout_s)
        finally:
            _cleanup(trigger)

    try:
        return TriggerOutcome(0, payload=run_to_end(main()))
    except TimeoutError:
        return TriggerOutcome(0, error="Trigger timeout")
    except Exception as exc:  # noqa: BLE001 - the deferred task fails with the reason
        return TriggerOutcome(0, error=_describe(exc))


def _cleanup(trigger: BaseTrigger) -> None:
    try:
        trigger.cleanup()
    except Exception:
        log.exception("cleanup of trigger %r failed", trigger)


def _describe(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return f"Trigger failure: {lines[-1].strip()}" if lines else "Trigger failure"
