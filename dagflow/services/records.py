"""Typed read results of the services: plain frozen records built from DB rows, never ORM objects.

The CLI, the REST API and the web UI all read these; each renders them its own way
(the API in Airflow's field names, the CLI as the SPEC §3 documents).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import pendulum

from dagflow.models import DagModel, DagRun, TaskInstance, TaskInstanceHistory

T = TypeVar("T")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else pendulum.instance(value).in_tz("UTC").isoformat()


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and how many items match in all."""

    items: Sequence[T]
    total: int


@dataclass(frozen=True)
class DagRecord:
    """A DAG as the DAG processor and the scheduler last recorded it."""

    dag_id: str
    fileloc: str | None
    is_paused: bool
    is_active: bool
    owners: tuple[str, ...]
    description: str | None
    tags: tuple[str, ...]
    schedule: str | None
    max_active_runs: int | None
    max_active_tasks: int | None
    has_import_errors: bool
    last_parsed_at: datetime | None
    next_dagrun: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_create_after: datetime | None

    @classmethod
    def of(cls, m: DagModel) -> DagRecord:
        """From a ``dag`` row."""
        owners = tuple(o.strip() for o in (m.owners or "").split(",") if o.strip())
        return cls(
            m.dag_id,
            m.fileloc,
            m.is_paused,
            m.is_active,
            owners,
            m.description,
            tuple(m.tags or ()),
            m.schedule_description,
            m.max_active_runs,
            m.max_active_tasks,
            m.has_import_errors,
            m.last_parsed_at,
            m.next_dagrun,
            m.next_dagrun_data_interval_start,
            m.next_dagrun_data_interval_end,
            m.next_dagrun_create_after,
        )


@dataclass(frozen=True)
class RunRecord:
    """One DAG run."""

    id: int
    dag_id: str
    run_id: str
    logical_date: datetime
    run_type: str
    state: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    last_scheduling_decision: datetime | None
    conf: dict[str, Any]
    note: str | None
    external_trigger: bool
    backfill_id: int | None
    has_soft_failures: bool
    #: Who made the run (``DagRunTriggeredByType``); None for runs made before the column existed.
    triggered_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The run's summary document (SPEC §3: ``dags list-runs``, ``dags state``), dates in ISO-8601."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state,
            "run_type": self.run_type,
            "logical_date": _iso(self.logical_date),
            "data_interval_start": _iso(self.data_interval_start),
            "data_interval_end": _iso(self.data_interval_end),
            "start_date": _iso(self.start_date),
            "end_date": _iso(self.end_date),
            "has_soft_failures": self.has_soft_failures,
            "conf": self.conf,
        }

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, once both are known."""
        if self.start_date is None or self.end_date is None:
            return None
        return (self.end_date - self.start_date).total_seconds()

    @classmethod
    def of(cls, r: DagRun) -> RunRecord:
        """From a ``dag_run`` row."""
        return cls(
            r.id,
            r.dag_id,
            r.run_id,
            r.logical_date,
            r.run_type,
            r.state.value,
            r.queued_at,
            r.start_date,
            r.end_date,
            r.data_interval_start,
            r.data_interval_end,
            r.last_scheduling_decision,
            dict(r.conf or {}),
            r.note,
            r.external_trigger,
            r.backfill_id,
            r.has_soft_failures,
            r.triggered_by,
        )


@dataclass(frozen=True)
class TaskInstanceRecord:
    """One task instance (its current try), with its run's logical date."""

    id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str | None
    try_number: int
    max_tries: int
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None
    pid: int | None
    pool: str
    pool_slots: int
    queue: str
    priority_weight: int
    operator: str | None
    queued_at: datetime | None
    scheduled_at: datetime | None
    note: str | None
    end_reason: str | None
    executor_config: dict[str, Any] | None
    logical_date: datetime | None
    infra_tries: int = 0
    requeue_count: int = 0

    def to_row(self) -> dict[str, Any]:
        """The task instance as SPEC §3 documents show it (``dags test``, ``tasks states-for-dag-run``)."""
        return {
            "task_id": self.task_id,
            "map_index": self.map_index,
            "state": self.state or "none",
            "try_number": self.try_number,
            "max_tries": self.max_tries,
            "start_date": _iso(self.start_date),
            "end_date": _iso(self.end_date),
            "duration": self.duration,
            "hostname": self.hostname,
            "note": self.note,
            "end_reason": self.end_reason,
            "infra_tries": self.infra_tries,
            "requeue_count": self.requeue_count,
        }

    @classmethod
    def of(cls, ti: TaskInstance, logical_date: datetime | None) -> TaskInstanceRecord:
        """From a ``task_instance`` row and its run's logical date."""
        return cls(
            ti.id,
            ti.dag_id,
            ti.run_id,
            ti.task_id,
            ti.map_index,
            None if ti.state is None or ti.state.value == "none" else ti.state.value,
            ti.try_number,
            ti.max_tries,
            ti.start_date,
            ti.end_date,
            ti.duration,
            ti.hostname,
            ti.pid,
            ti.pool,
            ti.pool_slots,
            ti.queue,
            ti.priority_weight,
            ti.operator,
            ti.queued_at,
            ti.scheduled_at,
            ti.note,
            ti.end_reason,
            ti.executor_config,
            logical_date,
            ti.infra_tries,
            ti.requeue_count,
        )


@dataclass(frozen=True)
class TryRecord:
    """One try of a task instance: an ended one from the history, or the current one."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    state: str | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    hostname: str | None
    pid: int | None
    reason: str | None

    @classmethod
    def of(cls, h: TaskInstanceHistory) -> TryRecord:
        """From a ``task_instance_history`` row."""
        state = None if h.state is None or h.state.value == "none" else h.state.value
        return cls(
            h.dag_id,
            h.run_id,
            h.task_id,
            h.map_index,
            h.try_number,
            state,
            h.start_date,
            h.end_date,
            h.duration,
            h.hostname,
            h.pid,
            h.reason,
        )


@dataclass(frozen=True)
class RunStates:
    """A run and every task instance of it, in the DAG's topological order then by map index."""

    run: RunRecord
    task_instances: tuple[TaskInstanceRecord, ...]

    def to_dict(self) -> dict[str, Any]:
        """The SPEC §3 document of ``dags test`` and ``tasks states-for-dag-run``."""
        return {**self.run.to_dict(), "task_instances": [ti.to_row() for ti in self.task_instances]}
