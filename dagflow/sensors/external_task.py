"""``ExternalTaskSensor``: wait for a task (or a whole run) of another DAG."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError, FailTask, SkipTask
from dagflow.sdk import runtime
from dagflow.sdk.durations import to_timedelta
from dagflow.sdk.sensor import BaseSensorOperator
from dagflow.triggers.external_task import ExternalTaskTrigger


class ExternalTaskSensor(BaseSensorOperator):
    """Done when the external task(s) at the matching logical date are in ``allowed_states``."""

    template_fields: Sequence[str] = ("external_dag_id", "external_task_id", "external_task_ids")
    ui_color = "#4db7db"

    def __init__(
        self,
        *,
        external_dag_id: str,
        external_task_id: str | None = None,
        external_task_ids: Sequence[str] | None = None,
        allowed_states: Sequence[str] | None = None,
        failed_states: Sequence[str] | None = None,
        skipped_states: Sequence[str] | None = None,
        execution_delta: timedelta | float | str | None = None,
        execution_date_fn: Callable[..., datetime] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if external_task_id is not None and external_task_ids is not None:
            raise DagDefinitionError(f"task {self.task_id!r}: pass external_task_id or external_task_ids, not both")
        if execution_delta is not None and execution_date_fn is not None:
            raise DagDefinitionError(f"task {self.task_id!r}: pass execution_delta or execution_date_fn, not both")
        self.external_dag_id = external_dag_id
        self.external_task_id = external_task_id
        self.external_task_ids = list(external_task_ids) if external_task_ids is not None else None
        self.allowed_states = [str(s) for s in (allowed_states or ["success"])]
        self.failed_states = [str(s) for s in (failed_states or [])]
        self.skipped_states = [str(s) for s in (skipped_states or [])]
        overlap = set(self.allowed_states) & (set(self.failed_states) | set(self.skipped_states))
        if overlap:
            raise DagDefinitionError(
                f"task {self.task_id!r}: states {sorted(overlap)} are both allowed and failed/skipped"
            )
        self.execution_delta = to_timedelta(execution_delta)
        self.execution_date_fn = execution_date_fn

    def target_logical_date(self, context: Mapping[str, Any]) -> datetime:
        """The logical date of the external run to watch."""
        logical_date: datetime = context["logical_date"]
        if self.execution_date_fn is not None:
            return self.execution_date_fn(logical_date)
        if self.execution_delta is not None:
            return logical_date - self.execution_delta
        return logical_date

    def execute(self, context: Mapping[str, Any]) -> Any:
        """Poke (or reschedule); with ``deferrable=True`` wait in the triggerer."""
        if not self.deferrable or self.poke(context):
            return None if self.deferrable else super().execute(context)
        task_ids: list[str | None] = (
            list(self.external_task_ids) if self.external_task_ids is not None else [self.external_task_id]
        )
        trigger = ExternalTaskTrigger(
            external_dag_id=self.external_dag_id,
            external_task_ids=task_ids,
            logical_date=pendulum.instance(self.target_logical_date(context)).in_timezone("UTC").isoformat(),
            allowed_states=self.allowed_states,
            failed_states=self.failed_states,
            skipped_states=self.skipped_states,
            poll_interval=self.poke_interval,
        )
        self.defer_with(trigger)
        return None

    def poke(self, context: Mapping[str, Any]) -> bool:
        """Look up the external states once."""
        when = self.target_logical_date(context)
        task_ids: list[str | None] = (
            list(self.external_task_ids) if self.external_task_ids is not None else [self.external_task_id]
        )
        backend = runtime.current()
        states: list[str] = []
        for task_id in task_ids:
            states.extend(
                str(s) for s in backend.external_task_states(self.external_dag_id, task_id, logical_date=when)
            )
        what = f"{self.external_dag_id}.{','.join(t or '*' for t in task_ids)} at {when.isoformat()}"
        print(f"{what}: {states or 'nothing yet'}", flush=True)
        if any(s in self.failed_states for s in states):
            raise FailTask(f"{what} is in a failed state: {states}")
        if any(s in self.skipped_states for s in states):
            raise SkipTask(f"{what} is in a skipped state: {states}")
        return bool(states) and len(states) >= len(task_ids) and all(s in self.allowed_states for s in states)
