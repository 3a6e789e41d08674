"""Record the end of a try in ONE transaction, guarded by the try's token.

State (through ``move_ti``: running -> outcome), end date, duration, reason,
next try time, the returned XComs, the ``task_map`` row and a ``task_instance_history``
row are written together, or not at all: if the row is no longer ``running`` with this
token (a person marked it, a clear, the reaper), nothing is written and False returned.
On PostgreSQL the same transaction publishes a ``ti_done`` event (``events.py``), so
schedulers and the CeleryExecutor hear of the outcome the moment it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.execution import xcom as xcom_rows
from dagflow.execution.events import TI_DONE, publish
from dagflow.execution.outcome import TryResult
from dagflow.models.base import utcnow
from dagflow.models.taskinstance import TaskInstance, TaskInstanceHistory
from dagflow.models.transitions import move_ti, record_try, set_ti_state
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


class _LostTry(Exception):
    """The try is no longer ours: roll the transaction back."""


def record_result(db: Database, claimed: ClaimedTry, result: TryResult, outputs: TryOutputs | None = None) -> bool:
    """Write the outcome of ``claimed``; False if the try was taken away meanwhile."""
    try:
        with db.transaction() as session:
            _record(session, claimed, result, outputs or TryOutputs())
    except _LostTry:
        return False
    return True


#: The moved row's columns that its history row copies (``record_try``).
_HISTORY_COLUMNS = (
    "id",
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "start_date",
    "end_date",
    "duration",
    "hostname",
    "pid",
)


def _record(session: Session, claimed: ClaimedTry, result: TryResult, outputs: TryOutputs) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "end_date": now,
        "duration": (now - claimed.start_date).total_seconds(),
        "end_reason": result.reason,
        "next_try_at": result.next_try_at,
        **_poke_values(claimed, result),
    }
    row = move_ti(
        session,
        claimed.ti_id,
        to=result.state,
        expected=TI.RUNNING,
        values=values,
        guards={"try_token": claimed.token},
        returning=_HISTORY_COLUMNS,
    )
    if row is None:
        raise _LostTry
    record_try(session, row, state=result.state, reason=result.reason)
    _write_outputs(session, claimed, outputs)
    publish(
        session,
        TI_DONE,
        ti_id=claimed.ti_id,
        try_number=claimed.try_number,
        state=result.state,
        dag_id=claimed.dag_id,
        run_id=claimed.run_id,
    )  # delivered when this transaction commits


def _poke_values(claimed: ClaimedTry, result: TryResult) -> dict[str, Any]:
    """Keep ``first_poke_at`` through a reschedule sequence; a reschedule spends no retry."""
    if result.state is TI.UP_FOR_RESCHEDULE:
        return {
            "first_poke_at": claimed.first_poke_at or claimed.start_date,
            "max_tries": claimed.max_tries + 1,  # the row's value at the claim; a clear would change the token
        }
    return {"first_poke_at": None}


def _write_outputs(session: Session, claimed: ClaimedTry, outputs: TryOutputs) -> None:
    ident = {
        "dag_id": claimed.dag_id,
        "run_id": claimed.run_id,
        "task_id": claimed.task_id,
        "map_index": claimed.map_index,
    }
    for key, stored in outputs.xcoms:
        xcom_rows.write_xcom(session, key=key, stored=stored, **ident)
    if outputs.map_length is not None:
        xcom_rows.write_task_map(session, length=outputs.map_length, keys=outputs.map_keys, **ident)


def record_stopped(db: Database, claimed: ClaimedTry, reason: str) -> bool:
    """Add the history row of a try stopped because its row changed under it (undead).

    The state stays whatever the person, the clear or the reaper set; only the try's
    history row is added, unless one exists already or a newer try started.
    """
    with db.transaction() as session:
        ti = session.get(TaskInstance, claimed.ti_id)
        if ti is None or ti.try_number != claimed.try_number:
            return False
        exists = session.execute(
            sa.select(TaskInstanceHistory.id).where(
                TaskInstanceHistory.ti_id == claimed.ti_id,
                TaskInstanceHistory.try_number == claimed.try_number,
            )
        ).first()
        if exists is not None:
            return False
        now = utcnow()
        why = f"{reason}; {ti.end_reason}" if ti.end_reason else reason
        session.add(
            TaskInstanceHistory(
                ti_id=ti.id,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index,
                try_number=claimed.try_number,
                state=ti.state,
                start_date=claimed.start_date,
                end_date=now,
                duration=(now - claimed.start_date).total_seconds(),
                hostname=claimed.hostname,
                pid=ti.pid,
                reason=why,
            )
        )
        state = ti.state
        if state is TI.RESTARTING and ti.try_token == claimed.token:
            state = _hand_cleared_try_back(session, ti, claimed, now)
        publish(
            session,
            TI_DONE,
            ti_id=ti.id,
            try_number=claimed.try_number,
            state=state,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
        )
    return True


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


def _hand_cleared_try_back(session: Session, ti: TaskInstance, claimed: ClaimedTry, now: Any) -> TI:
    """A try cleared while it ran is stopped: ``restarting -> none`` so the scheduler runs it again.

    The worker that stopped it knows at once; without it (the worker died) the reaper
    does the same after a grace period.
    """
    moved = set_ti_state(
        session,
        [ti.id],
        to=TI.NONE,
        expected=[TI.RESTARTING],
        values=cleared_try_values(claimed.try_number, end_date=now),
        extra_where=TaskInstance.try_token == claimed.token,
    )
    return TI.NONE if moved == 1 else TI.RESTARTING
