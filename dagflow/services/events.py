"""The audit event log: every state-changing service call records who did it, to what, and when.

The acting user lives in a context variable (``dagflow.services.actor``): the CLI sets the
OS user at its start, the web app (API and UI) the logged-in user for each request. A
service records its event with ``record(session, ...)`` inside its own transaction, so an
event exists exactly when the change it describes was committed. ``extra`` never holds a
secret (no variable values, no passwords): it says what was asked, not what was stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import EventLogNotFound
from dagflow.models import DagRun, EventLog, utcnow
from dagflow.services.actor import acting_as, current_actor, reset_actor, set_actor
from dagflow.services.database import ensure_schema
from dagflow.services.listing import Slice, paged
from dagflow.services.records import Page


def record(
    session: Session,
    event: str,
    *,
    dag_id: str | None = None,
    run_id: str | None = None,
    task_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Add one event, by the current actor, to ``session`` (committed with the change it describes)."""
    session.add(
        EventLog(
            when=utcnow(),
            actor=current_actor(),
            event=event,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            try_number=try_number,
            extra=dict(extra) if extra else None,
        )
    )


@dataclass(frozen=True)
class EventRecord:
    """One audit event."""

    id: int
    when: datetime
    actor: str | None
    event: str
    dag_id: str | None
    run_id: str | None
    task_id: str | None
    map_index: int | None
    try_number: int | None
    extra: Mapping[str, Any] | None
    #: The logical date of the run the event names (None when it names none, or the run is gone).
    logical_date: datetime | None = None

    @classmethod
    def of(cls, row: EventLog, logical_date: datetime | None = None) -> EventRecord:
        """From an ``event_log`` row (and its run's logical date)."""
        return cls(
            row.id,
            row.when,
            row.actor,
            row.event,
            row.dag_id,
            row.run_id,
            row.task_id,
            row.map_index,
            row.try_number,
            row.extra,
            logical_date,
        )


@dataclass(frozen=True)
class EventFilter:
    """Which events to list (Airflow's ``GET /eventLogs`` filters); every field None or empty: all."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    owner: str | None = None
    event: str | None = None
    included_events: tuple[str, ...] = ()
    excluded_events: tuple[str, ...] = ()
    before: datetime | None = None
    after: datetime | None = None
    #: DAGs to leave out (their ``access_control`` hides them from the caller).
    hidden_dag_ids: frozenset[str] = frozenset()


_EVENT_ORDER = {
    "id": EventLog.id,
    "event_log_id": EventLog.id,
    "when": EventLog.when,
    "dttm": EventLog.when,
    "dag_id": EventLog.dag_id,
    "task_id": EventLog.task_id,
    "run_id": EventLog.run_id,
    "map_index": EventLog.map_index,
    "try_number": EventLog.try_number,
    "event": EventLog.event,
    "owner": EventLog.actor,
}

_EQUAL = (
    ("dag_id", EventLog.dag_id),
    ("task_id", EventLog.task_id),
    ("run_id", EventLog.run_id),
    ("map_index", EventLog.map_index),
    ("try_number", EventLog.try_number),
    ("owner", EventLog.actor),
    ("event", EventLog.event),
)


def event_query(flt: EventFilter) -> sa.Select[EventLog, datetime | None]:
    """The SELECT of the events ``flt`` matches with their runs' logical dates (unordered)."""
    on_run = sa.and_(DagRun.dag_id == EventLog.dag_id, DagRun.run_id == EventLog.run_id)
    query = sa.select(EventLog, DagRun.logical_date).outerjoin(DagRun, on_run)
    for name, column in _EQUAL:
        value = getattr(flt, name)
        if value is not None and value != "":
            query = query.where(column == value)
    if flt.included_events:
        query = query.where(EventLog.event.in_(flt.included_events))
    if flt.excluded_events:
        query = query.where(EventLog.event.not_in(flt.excluded_events))
    if flt.hidden_dag_ids:
        hidden = EventLog.dag_id.not_in(sorted(flt.hidden_dag_ids))
        query = query.where(sa.or_(EventLog.dag_id.is_(None), hidden))
    if flt.before is not None:
        query = query.where(EventLog.when < flt.before)
    if flt.after is not None:
        query = query.where(EventLog.when > flt.after)
    return query


def query_events(db: Database, flt: EventFilter, part: Slice) -> Page[EventRecord]:
    """A page of events, newest first unless ``order_by`` says otherwise."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return paged(
            session,
            event_query(flt),
            part,
            _EVENT_ORDER,
            [EventLog.id.desc()],
            lambda row: EventRecord.of(row[0], row[1]),
        )


def get_event(db: Database, event_id: int) -> EventRecord:
    """One event; ``EventLogNotFound`` if there is none with that id."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        found = session.execute(event_query(EventFilter()).where(EventLog.id == event_id)).first()
        if found is None:
            raise EventLogNotFound(f"event log {event_id} not found")
        return EventRecord.of(found[0], found[1])


def event_names(db: Database) -> list[str]:
    """Every event name recorded so far, sorted (for the UI's filter)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return list(session.scalars(sa.select(EventLog.event).distinct().order_by(EventLog.event)))


__all__ = [
    "EventFilter",
    "EventRecord",
    "acting_as",
    "current_actor",
    "event_names",
    "event_query",
    "get_event",
    "query_events",
    "record",
    "reset_actor",
    "set_actor",
]
