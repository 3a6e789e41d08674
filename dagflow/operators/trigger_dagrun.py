"""``TriggerDagRunOperator``: start a run of another DAG, optionally waiting for it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pendulum

from dagflow.exceptions import DagDefinitionError, DagRunAlreadyExists, FailTask, SkipTask
from dagflow.sdk import runtime
from dagflow.sdk.baseoperator import BaseOperator
from dagflow.sdk.durations import to_seconds
from dagflow.state import DagRunTriggeredByType

TRIGGER_RUN_ID_KEY = "trigger_run_id"


class TriggerDagRunOperator(BaseOperator):
    """Creates a manual run of ``trigger_dag_id`` with ``conf``; pushes its run id."""

    template_fields: Sequence[str] = ("trigger_dag_id", "trigger_run_id", "logical_date", "conf")
    ui_color = "#ffefeb"

    def __init__(
        self,
        *,
        trigger_dag_id: str,
        trigger_run_id: str | None = None,
        conf: Mapping[str, Any] | None = None,
        logical_date: str | datetime | None = None,
        wait_for_completion: bool = False,
        poke_interval: float | str = 60,
        allowed_states: Sequence[str] = ("success",),
        failed_states: Sequence[str] = ("failed",),
        skip_when_already_exists: bool = False,
        reset_dag_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if conf is not None and not isinstance(conf, Mapping):
            raise DagDefinitionError(f"task {self.task_id!r}: conf must be a dict, got {conf!r}")
        self.trigger_dag_id = trigger_dag_id
        self.trigger_run_id = trigger_run_id
        self.conf = conf
        self.logical_date = logical_date
        self.wait_for_completion = wait_for_completion
        self.poke_interval = to_seconds(poke_interval)
        self.allowed_states = [str(s) for s in allowed_states]
        self.failed_states = [str(s) for s in failed_states]
        self.skip_when_already_exists = skip_when_already_exists
        self.reset_dag_run = reset_dag_run

    def execute(self, context: Mapping[str, Any]) -> str:
        """Trigger the run (and wait for it with ``wait_for_completion``); returns its run id."""
        backend = runtime.current()
        logical_date = _parse_date(self.logical_date)
        try:
            run_id = backend.trigger_dag(
                self.trigger_dag_id,
                run_id=self.trigger_run_id or None,
                conf=dict(self.conf) if self.conf else None,
                logical_date=logical_date,
            )
        except DagRunAlreadyExists as exc:
            if self.skip_when_already_exists:
                raise SkipTask(f"{exc}: skipped (skip_when_already_exists)") from None
            if not self.reset_dag_run:
                raise
            run_id = backend.reset_dag_run(
                self.trigger_dag_id, run_id=self.trigger_run_id or None, logical_date=logical_date
            )
            print(f"{self.trigger_dag_id} run {run_id} existed: cleared and queued again (reset_dag_run)", flush=True)
        context["ti"].xcom_push(key=TRIGGER_RUN_ID_KEY, value=run_id)
        print(f"triggered {self.trigger_dag_id} run {run_id}", flush=True)
        if self.wait_for_completion:
            if _is_test_run(context):
                raise FailTask(
                    f"wait_for_completion: `dags test` runs only its own DAG run, so {self.trigger_dag_id} run"
                    f" {run_id} would never run here (a scheduler runs it)"
                )
            self._wait(backend, run_id)
        return run_id

    def _wait(self, backend: runtime.RuntimeBackend, run_id: str) -> None:
        while True:
            time.sleep(self.poke_interval)
            state = backend.dag_run_state(self.trigger_dag_id, run_id)
            print(f"{self.trigger_dag_id} run {run_id} is {state}", flush=True)
            if state in self.failed_states:
                raise RuntimeError(f"triggered run {self.trigger_dag_id}/{run_id} ended {state}")
            if state in self.allowed_states:
                return
            if state is None:
                raise RuntimeError(f"triggered run {self.trigger_dag_id}/{run_id} no longer exists")


def _is_test_run(context: Mapping[str, Any]) -> bool:
    """True in a run of ``dags test``: nothing but its own process runs it, so a triggered run never runs."""
    return getattr(context.get("dag_run"), "triggered_by", None) == DagRunTriggeredByType.TEST


def _parse_date(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return pendulum.instance(value)
    parsed = pendulum.parse(str(value))
    if not isinstance(parsed, datetime):
        raise DagDefinitionError(f"logical_date {value!r} is not a date and time")
    return parsed
