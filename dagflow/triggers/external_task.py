"""Triggers on dagflow's own state: other DAG runs (``DagStateTrigger``) or another DAG's tasks (``ExternalTaskTrigger``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pendulum

from dagflow.exceptions import TaskDeferralError
from dagflow.triggers.base import BaseTrigger, TriggerEvent, TriggerRuntime


def _runtime(trigger: BaseTrigger) -> TriggerRuntime:
    if trigger.runtime is None:
        raise TaskDeferralError(f"{type(trigger).__name__} needs the triggerer's runtime")
    return trigger.runtime


class DagStateTrigger(BaseTrigger):
    """Fires when every run in ``run_ids`` of ``dag_id`` is in ``states``; payload ``{"status", "states"}``.

    ``status`` is ``success``, or ``failed`` as soon as one run is in ``failed_states``.
    """

    def __init__(
        self,
        dag_id: str,
        run_ids: Sequence[str],
        states: Sequence[str] = ("success",),
        failed_states: Sequence[str] = ("failed",),
        poll_interval: float = 5.0,
    ) -> None:
        self.dag_id = dag_id
        self.run_ids = list(run_ids)
        self.states = [str(s) for s in states]
        self.failed_states = [str(s) for s in failed_states]
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Its DAG, runs, states and interval."""
        return (
            DagStateTrigger.classpath(),
            {
                "dag_id": self.dag_id,
                "run_ids": self.run_ids,
                "states": self.states,
                "failed_states": self.failed_states,
                "poll_interval": self.poll_interval,
            },
        )

    def _read(self) -> dict[str, str | None]:
        runtime = _runtime(self)
        return {run_id: runtime.dag_run_state(self.dag_id, run_id) for run_id in self.run_ids}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the runs' states."""
        while True:
            states = await asyncio.to_thread(self._read)
            if any(state in self.failed_states for state in states.values()):
                yield TriggerEvent({"status": "failed", "states": states})
                return
            if all(state in self.states for state in states.values()):
                yield TriggerEvent({"status": "success", "states": states})
                return
            await asyncio.sleep(self.poll_interval)


class ExternalTaskTrigger(BaseTrigger):
    """Fires when another DAG's tasks (or its run, task id None) at ``logical_date`` reach a final verdict.

    Payload ``{"status": "success"|"failed"|"skipped", "states": [...]}``, decided as
    ``ExternalTaskSensor.poke`` decides: all in ``allowed_states``; any in
    ``failed_states``; any in ``skipped_states``.
    """

    def __init__(
        self,
        external_dag_id: str,
        external_task_ids: Sequence[str | None],
        logical_date: str,
        allowed_states: Sequence[str] = ("success",),
        failed_states: Sequence[str] = (),
        skipped_states: Sequence[str] = (),
        poll_interval: float = 5.0,
    ) -> None:
        self.external_dag_id = external_dag_id
        self.external_task_ids = list(external_task_ids) or [None]
        self.logical_date = str(logical_date)
        self.allowed_states = [str(s) for s in allowed_states]
        self.failed_states = [str(s) for s in failed_states]
        self.skipped_states = [str(s) for s in skipped_states]
        self.poll_interval = float(poll_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Its DAG, tasks, logical date, states and interval."""
        return (
            ExternalTaskTrigger.classpath(),
            {
                "external_dag_id": self.external_dag_id,
                "external_task_ids": self.external_task_ids,
                "logical_date": self.logical_date,
                "allowed_states": self.allowed_states,
                "failed_states": self.failed_states,
                "skipped_states": self.skipped_states,
                "poll_interval": self.poll_interval,
            },
        )

    def _read(self) -> list[str]:
        runtime = _runtime(self)
        when = pendulum.parse(self.logical_date)
        states: list[str] = []
        for task_id in self.external_task_ids:
            states.extend(runtime.external_task_states(self.external_dag_id, task_id, logical_date=when))  # type: ignore[arg-type]
        return states

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll the states."""
        while True:
            states = await asyncio.to_thread(self._read)
            if any(s in self.failed_states for s in states):
                yield TriggerEvent({"status": "failed", "states": states})
                return
            if any(s in self.skipped_states for s in states):
                yield TriggerEvent({"status": "skipped", "states": states})
                return
            if states and len(states) >= len(self.external_task_ids) and all(s in self.allowed_states for s in states):
                yield TriggerEvent({"status": "success", "states": states})
                return
            await asyncio.sleep(self.poll_interval)
