"""Record the end of a try in ONE transaction, guarded by the try's token.

State (running -> outcome), end date, duration, reason, next try time, the
``task_instance_history`` row and the ``ti_done`` event (all through ``try_end.end_try``,
the one writer of a try's end), the returned XComs, the ``task_map`` row and the try's
rendered template fields (``rendered_fields``) are written together, or not at all: if the row is no longer ``running`` with this token (a person
marked it, a clear, the reaper), nothing is written and False returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pendulum

from dagflow.execution import xcom as xcom_rows
from dagflow.execution.assets import record_asset_events
from dagflow.execution.outcome import TryResult
from dagflow.execution.rendered_fields import RenderedFields, write_rendered_fields
from dagflow.execution.try_end import Move, TryRecord, end_try
from dagflow.models.base import utcnow
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.trigger import Trigger
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dagflow.db import Database
    from dagflow.execution.claim import ClaimedTry

TI = TaskInstanceState


@dataclass(frozen=True)
class TryOutputs:
    """What a successful try leaves behind: encoded XComs, and the size of a list/dict result."""

    xcoms: Sequence[tuple[str, Any]] = ()
    map_length: int | None = None
    map_keys: list[Any] | None = None
    #: ``(uri, extra)`` per outlet of a successful try: its asset events.
    asset_events: Sequence[tuple[str, dict[str, Any]]] = ()


class _LostTry(Exception):
    """The try is no longer ours: roll the transaction back."""


def record_result(
    db: Database,
    claimed: ClaimedTry,
    result: TryResult,
    outputs: TryOutputs | None = None,
    *,
    pid: int | None = None,
    rendered: RenderedFields | None = None,
) -> bool:
    """Write the outcome of ``claimed`` (``pid``: the process that ran it), with its rendered
    fields if given and not written yet; False if the try was taken away."""
    try:
        with db.transaction() as session:
            now = _record(session, claimed, result, outputs or TryOutputs(), pid)
            if rendered is not None:
                _write_rendered(session, claimed, rendered, now)
    except _LostTry:
        return False
    return True


def _write_rendered(session: Session, claimed: ClaimedTry, rendered: RenderedFields, now: datetime) -> None:
    connection = session.connection()
    write_rendered_fields(connection, ti_id=claimed.ti_id, try_number=claimed.try_number, fields=rendered, now=now)


def _record(session: Session, claimed: ClaimedTry, result: TryResult, outputs: TryOutputs, pid: int | None) -> datetime:
    """The outcome, its history row, outputs and asset events; when the try ended."""
    now = utcnow()
    values: dict[str, Any] = {
        **({"pid": pid} if pid is not None else {}),
        "end_date": now,
        "duration": (now - pendulum.instance(claimed.start_date)).total_seconds(),
        "end_reason": result.reason,
        "next_try_at": result.next_try_at,
        **_poke_values(claimed, result),
        **_deferral_values(session, claimed, result),
    }
    move = Move(result.state, TI.RUNNING, values=values, guards={"try_token": claimed.token})
    record = TryRecord(result.state, result.reason, try_number=claimed.try_number)
    if end_try(session, claimed.ti_id, record, move) is None:
        raise _LostTry
    _write_outputs(session, claimed, outputs)
    if result.state is TI.SUCCESS and outputs.asset_events:
        source = {
            "source_dag_id": claimed.dag_id,
            "source_task_id": claimed.task_id,
            "source_run_id": claimed.run_id,
            "source_map_index": claimed.map_index,
        }
        record_asset_events(session, outputs.asset_events, source=source, now=now)
    return now


def _poke_values(claimed: ClaimedTry, result: TryResult) -> dict[str, Any]:
    """Keep ``first_poke_at`` through a reschedule sequence; a reschedule is not a new try.

    A reschedule (or a deferral) hands the try number back: the next claim starts the
    same try again (``try_number`` counts tries, not pokes or resumptions, as in Airflow).
    """
    if result.state is TI.UP_FOR_RESCHEDULE:
        return {"first_poke_at": claimed.first_poke_at or claimed.start_date, "try_number": claimed.try_number - 1}
    return {"first_poke_at": None}


def _deferral_values(session: Session, claimed: ClaimedTry, result: TryResult) -> dict[str, Any]:
    """A deferred try: its trigger row, where and when it resumes; any other outcome clears those."""
    deferral = result.deferral
    if result.state is not TI.DEFERRED or deferral is None:
        return {"trigger_id": None, "trigger_timeout": None, "next_method": None, "next_kwargs": None}
    trigger = Trigger(classpath=deferral["classpath"], kwargs=dict(deferral["kwargs"]), created_date=utcnow())
    session.add(trigger)
    session.flush()
    timeout_at = deferral.get("timeout_at")
    return {
        "trigger_id": trigger.id,
        "trigger_timeout": pendulum.parse(timeout_at) if timeout_at else None,
        "next_method": deferral["method_name"],
        "next_kwargs": dict(deferral.get("next_kwargs") or {}),
        "try_number": claimed.try_number - 1,
    }


def _write_outputs(session: Session, claimed: ClaimedTry, outputs: TryOutputs) -> None:
    ident = {"dag_id": claimed.dag_id, "run_id": claimed.run_id, "task_id": claimed.task_id}
    for key, stored in outputs.xcoms:
        xcom_rows.write_xcom(session, key=key, stored=stored, map_index=claimed.map_index, **ident)
    if outputs.map_length is not None:
        xcom_rows.write_task_map(
            session, length=outputs.map_length, keys=outputs.map_keys, map_index=claimed.map_index, **ident
        )


def record_stopped(db: Database, claimed: ClaimedTry, reason: str, *, rendered: RenderedFields | None = None) -> bool:
    """Add the history row of a try stopped because its row changed under it (undead).

    The state stays whatever the person, the clear or the reaper set; only the try's
    history row (and its rendered fields, if given) is added, unless one exists already or
    a newer try started. A try
    cleared while it ran (``restarting``, still this try's token) is handed back
    (``restarting -> none``) so the scheduler runs it again.
    """
    with db.transaction() as session:
        ti = session.get(TaskInstance, claimed.ti_id)
        if ti is None or ti.try_number != claimed.try_number:
            return False
        now = utcnow()
        record = TryRecord(
            ti.state,
            f"{reason}; {ti.end_reason}" if ti.end_reason else reason,
            overrides={
                "start_date": claimed.start_date,
                "end_date": now,
                "duration": (now - pendulum.instance(claimed.start_date)).total_seconds(),
                "hostname": claimed.hostname,
            },
            if_missing=True,
        )
        move = None
        if ti.state is TI.RESTARTING and ti.try_token == claimed.token:
            values = cleared_try_values(claimed.try_number, end_date=now)
            move = Move(TI.NONE, TI.RESTARTING, values=values, guards={"try_token": claimed.token})
        written = end_try(session, ti.id, record, move)
        if written is None and move is not None:  # the reaper handed it back first: just the history
            written = end_try(session, ti.id, replace(record, state=TI.RESTARTING))
        if written is not None and rendered is not None:
            _write_rendered(session, claimed, rendered, now)
        return written is not None


def cleared_try_values(try_number: int, *, end_date: Any) -> dict[str, Any]:
    """The columns of a try stopped because it was cleared while running (``restarting -> none``)."""
    return {
        "end_reason": f"cleared while running: try {try_number} was stopped",
        "end_date": end_date,
        "next_try_at": None,
        "requeue_count": 0,
        "external_executor_id": None,
        "queued_by_job_id": None,
    }
