"""The ``trigger`` table as the triggerer and the scheduler use it (query functions: never commit).

- ``claim_triggers``: give this triggerer the triggers nobody alive runs (new ones, and
  those of a triggerer whose heartbeat stopped), up to its capacity.
- ``submit_event``: the trigger fired: its deferred task instances go back to
  ``scheduled`` with ``next_kwargs["event"]``, the trigger row goes.
- ``submit_failure`` / ``fail_timed_out_deferrals``: the task instances are scheduled to
  resume in ``__fail__`` (the try fails there, retries apply; a sensor times out).
- ``clean_unused_triggers``: triggers no deferred task instance waits for any more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.execution.events import RUN_CHANGED, publish
from dagflow.models import Job, TaskInstance, Trigger
from dagflow.models.job import JOB_RUNNING
from dagflow.models.transitions import set_ti_state
from dagflow.state import TaskInstanceState

TI = TaskInstanceState
TRIGGERER_JOB = "triggerer"
#: Ids per ``IN (...)`` list.
_CHUNK = 500


def fresh_after(heartbeat_interval: float) -> timedelta:
    """How long a triggerer's heartbeat counts as alive: three missed beats, at least 10 s."""
    return timedelta(seconds=max(3 * heartbeat_interval, 10.0))


def alive_triggerer_ids(session: Session, *, now: datetime, fresh: timedelta) -> list[int]:
    """Ids of running triggerer jobs that heartbeated within ``fresh``."""
    return list(
        session.scalars(
            sa.select(Job.id).where(
                Job.job_type == TRIGGERER_JOB, Job.state == JOB_RUNNING, Job.latest_heartbeat > now - fresh
            )
        )
    )


def claim_triggers(session: Session, job_id: int, *, capacity: int, alive: list[int]) -> int:
    """Assign up to ``capacity`` minus what ``job_id`` holds of the unowned triggers to it; how many it took."""
    held = session.scalar(sa.select(sa.func.count()).select_from(Trigger).where(Trigger.triggerer_id == job_id)) or 0
    room = capacity - held
    if room <= 0:
        return 0
    unowned = sa.or_(Trigger.triggerer_id.is_(None), Trigger.triggerer_id.not_in(alive or [-1]))
    ids = list(session.scalars(sa.select(Trigger.id).where(unowned).order_by(Trigger.id).limit(room)))
    if not ids:
        return 0
    result = session.execute(
        sa.update(Trigger)
        .where(Trigger.id.in_(ids), unowned)
        .values(triggerer_id=job_id)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def held_triggers(session: Session, job_id: int) -> dict[int, tuple[str, dict[str, Any]]]:
    """``trigger id -> (classpath, kwargs)`` of the triggers assigned to ``job_id``."""
    rows = session.execute(
        sa.select(Trigger.id, Trigger.classpath, Trigger.kwargs).where(Trigger.triggerer_id == job_id)
    )
    return {trigger_id: (classpath, dict(kwargs or {})) for trigger_id, classpath, kwargs in rows}


def submit_event(session: Session, trigger_id: int, payload: Any) -> int:
    """The trigger fired: resume its task instances with ``event=payload``; how many were resumed."""
    return submit_outcomes(session, {trigger_id: (payload, None)})


def submit_failure(session: Session, trigger_id: int, error: str) -> int:
    """The trigger failed (raised, or could not be built): its task instances fail where they resume."""
    return submit_outcomes(session, {trigger_id: (None, error)})


def submit_outcomes(session: Session, outcomes: Mapping[int, tuple[Any, str | None]]) -> int:
    """Resume the deferred task instances of many triggers at once; the triggers are deleted.

    ``outcomes``: trigger id -> (event payload, error). With an error the task instances
    resume in ``__fail__``; else in their ``next_method`` with ``event`` added to their
    kwargs. One read, one UPDATE per distinct resulting kwargs (usually one per trigger
    class and moment), one DELETE: thousands of timers firing together stay cheap.
    """
    if not outcomes:
        return 0
    ids = list(outcomes)
    rows: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        rows += session.execute(
            sa.select(
                TaskInstance.id,
                TaskInstance.dag_id,
                TaskInstance.run_id,
                TaskInstance.trigger_id,
                TaskInstance.next_kwargs,
            ).where(TaskInstance.trigger_id.in_(ids[start : start + _CHUNK]), TaskInstance.state == TI.DEFERRED)
        ).all()
    groups: dict[str, tuple[dict[str, Any], list[int], set[int]]] = {}
    runs: set[tuple[str, str]] = set()
    for ti_id, dag_id, run_id, trigger_id, next_kwargs in rows:
        payload, error = outcomes[trigger_id]
        values: dict[str, Any] = {"trigger_id": None, "trigger_timeout": None, "next_try_at": None}
        if error is not None:
            values.update(next_method="__fail__", next_kwargs={"error": error})
        else:
            values["next_kwargs"] = {**dict(next_kwargs or {}), "event": payload}
        key = json.dumps(values, sort_keys=True, default=str)
        group = groups.setdefault(key, (values, [], set()))
        group[1].append(ti_id)
        group[2].add(trigger_id)
        runs.add((dag_id, run_id))
    moved = 0
    for values, ti_ids, trigger_ids in groups.values():
        extra = [TaskInstance.trigger_id.in_(sorted(trigger_ids))]  # not re-deferred meanwhile
        moved += set_ti_state(
            session,
            ti_ids,
            to=TI.SCHEDULED,
            expected=[TI.DEFERRED],
            values=values,
            extra_where=extra,
            synchronize=False,
        )
    for dag_id, run_id in sorted(runs):
        publish(session, RUN_CHANGED, dag_id=dag_id, run_id=run_id)
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            sa.delete(Trigger)
            .where(Trigger.id.in_(ids[start : start + _CHUNK]))
            .execution_options(synchronize_session=False)
        )
    return moved


def fail_timed_out_deferrals(session: Session, *, now: datetime) -> int:
    """Deferred task instances past their ``trigger_timeout``: scheduled to fail in ``__fail__``."""
    rows = session.execute(
        sa.select(TaskInstance.id, TaskInstance.dag_id, TaskInstance.run_id).where(
            TaskInstance.state == TI.DEFERRED, TaskInstance.trigger_timeout < now
        )
    ).all()
    moved = 0
    for ti_id, dag_id, run_id in rows:
        values: Mapping[str, Any] = {
            "trigger_id": None,
            "trigger_timeout": None,
            "next_method": "__fail__",
            "next_kwargs": {"error": "Trigger timeout"},
        }
        extra = [TaskInstance.trigger_timeout < now]
        if set_ti_state(session, [ti_id], to=TI.SCHEDULED, expected=[TI.DEFERRED], values=values, extra_where=extra):
            moved += 1
            publish(session, RUN_CHANGED, dag_id=dag_id, run_id=run_id)
    return moved


def clean_unused_triggers(session: Session) -> int:
    """Delete triggers no deferred task instance waits for (cleared, marked, timed out); how many."""
    waited = sa.select(TaskInstance.trigger_id).where(
        TaskInstance.state == TI.DEFERRED, TaskInstance.trigger_id.is_not(None)
    )
    result = session.execute(
        sa.delete(Trigger).where(Trigger.id.not_in(waited)).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def next_trigger_timeout(session: Session) -> datetime | None:
    """The earliest ``trigger_timeout`` of a deferred task instance (when the scheduler must look)."""
    return session.scalar(sa.select(sa.func.min(TaskInstance.trigger_timeout)).where(TaskInstance.state == TI.DEFERRED))
