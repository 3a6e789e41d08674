"""``end_try``: the one function that writes the end of a try, whoever ends it.

The worker recording its outcome, the reaper failing a zombie or a try stuck in
``queued``, the reaper or the worker handing back a try cleared while it ran, and a
worker noting that its try was stopped under it (marked, cleared, timed out): each
writes the same three things in the caller's transaction:

1. the state move, if there is one: a compare-and-set through ``transitions`` (the
   move is refused, and nothing is written, if the row changed meanwhile);
2. the try's ``task_instance_history`` row, from the row as it now is;
3. a ``ti_done`` event (PostgreSQL NOTIFY at commit), so schedulers and the Celery
   executor hear of it at once; its ``pg_notify`` is in the history insert's ``RETURNING``
   (no statement of its own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.execution.events import TI_DONE, notify_clause
from dagflow.models.base import utcnow
from dagflow.models.taskinstance import TaskInstance, TaskInstanceHistory
from dagflow.models.transitions import move_ti, set_ti_state
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

TI = TaskInstanceState

#: The moved row's columns that its history row copies.
HISTORY_COLUMNS = (
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
    "state",
)


@dataclass(frozen=True)
class Move:
    """The state change that ends a try: ``expected -> to``, with more columns and conditions.

    ``guards`` are equality conditions on plain values (the worker's hot path: one
    prepared UPDATE ... RETURNING); ``where`` holds any other SQL condition.
    """

    to: TaskInstanceState
    expected: TaskInstanceState | frozenset[TaskInstanceState]
    values: Mapping[str, Any] = field(default_factory=dict)
    guards: Mapping[str, Any] = field(default_factory=dict)
    where: Sequence[sa.ColumnElement[bool]] = ()


@dataclass(frozen=True)
class TryRecord:
    """What the history row says about the try beyond the row's own columns."""

    state: TaskInstanceState
    reason: str | None
    #: The try that ended, when it is not the row's ``try_number`` (a try that never started).
    try_number: int | None = None
    #: False for a try that never started: no start date, host or pid.
    started: bool = True
    #: Overrides for the history row (the worker's own start date and host for a stopped try).
    overrides: Mapping[str, Any] = field(default_factory=dict)
    #: Write nothing if this try already has a history row (whoever stopped it first wrote it).
    if_missing: bool = False


def end_try(session: Session, ti_id: int, record: TryRecord, move: Move | None = None) -> Any | None:
    """Write the end of one try (see the module doc); the row as moved, or None if nothing was written."""
    row = _move(session, ti_id, move) if move is not None else _current(session, ti_id)
    if row is None:
        return None
    try_number = record.try_number if record.try_number is not None else row.try_number
    if record.if_missing and _has_history(session, ti_id, try_number):
        return row if move is not None else None
    done = notify_clause(
        session, TI_DONE, ti_id=ti_id, try_number=try_number, state=row.state, dag_id=row.dag_id, run_id=row.run_id
    )
    _insert_history(session, row, record, try_number, done)  # the event rides in it, delivered at commit
    return row


def _move(session: Session, ti_id: int, move: Move) -> Any | None:
    expected = move.expected if isinstance(move.expected, frozenset) else frozenset({move.expected})
    if not move.where and _plain(move.values):
        return move_ti(
            session,
            ti_id,
            to=move.to,
            expected=expected,
            values=move.values,
            guards=move.guards,
            returning=HISTORY_COLUMNS,
        )
    conditions = [getattr(TaskInstance, name) == value for name, value in move.guards.items()]
    moved = set_ti_state(
        session,
        [ti_id],
        to=move.to,
        expected=expected,
        values=move.values,
        extra_where=[*conditions, *move.where] or None,
    )
    return _current(session, ti_id) if moved == 1 else None


def _plain(values: Mapping[str, Any]) -> bool:
    return not any(isinstance(v, sa.sql.ClauseElement) or hasattr(v, "__clause_element__") for v in values.values())


_TABLE = TaskInstance.__table__
_READ_ROW = sa.select(*(_TABLE.c[name] for name in HISTORY_COLUMNS)).where(_TABLE.c.id == sa.bindparam("ti_id"))


def _current(session: Session, ti_id: int) -> Any | None:
    return session.connection().execute(_READ_ROW, {"ti_id": ti_id}).first()


def _has_history(session: Session, ti_id: int, try_number: int) -> bool:
    """True if the try has an ending history row (a deferral or a reschedule of it does not end it)."""
    found = session.execute(
        sa.select(TaskInstanceHistory.id).where(
            TaskInstanceHistory.ti_id == ti_id,
            TaskInstanceHistory.try_number == try_number,
            TaskInstanceHistory.state.not_in([TI.DEFERRED, TI.UP_FOR_RESCHEDULE]),
        )
    ).first()
    return found is not None


def _insert_history(
    session: Session, row: Any, record: TryRecord, try_number: int, notify: sa.ColumnElement[Any] | None
) -> None:
    """The try's history row; ``notify`` (PostgreSQL's ``pg_notify`` of the ``ti_done`` event) in its
    ``RETURNING``, so the event costs no statement of its own."""
    values: dict[str, Any] = {
        "ti_id": row.id,
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "task_id": row.task_id,
        "map_index": row.map_index,
        "try_number": try_number,
        "state": TaskInstanceState(record.state),
        "start_date": row.start_date if record.started else None,
        "end_date": row.end_date,
        "duration": row.duration if record.started else None,
        "hostname": row.hostname if record.started else None,
        "pid": row.pid if record.started else None,
        "reason": record.reason,
        "recorded_at": utcnow(),
    }
    values.update(record.overrides)
    insert = sa.insert(TaskInstanceHistory.__table__)
    session.connection().execute(insert if notify is None else insert.returning(notify), values)
