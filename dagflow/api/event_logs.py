"""``/eventLogs``: the audit log of who did what (Airflow 3's ``EventLog`` resource)."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, Field

from dagflow.api.common import ListQuery, api, check_dag, hidden_dags, utc
from dagflow.services import events as service
from dagflow.services.events import EventRecord
from dagflow.web.context import web_context


class EventLogResponse(BaseModel):
    """One event, in Airflow 3's fields (``owner`` is the acting user, ``extra`` JSON text)."""

    event_log_id: int
    when: datetime
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    event: str
    logical_date: datetime | None = None
    owner: str | None = None
    extra: str | None = None
    dag_display_name: str | None = None


class EventLogCollectionResponse(BaseModel):
    """A page of events."""

    event_logs: list[EventLogResponse]
    total_entries: int


class EventLogsQuery(ListQuery):
    """Airflow's ``GET /eventLogs`` filters; newest first unless ``order_by`` says otherwise."""

    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    owner: str | None = None
    event: str | None = None
    excluded_events: list[str] = Field(default_factory=list)
    included_events: list[str] = Field(default_factory=list)
    before: datetime | None = None
    after: datetime | None = None


def event_response(e: EventRecord) -> EventLogResponse:
    """An event as the API shows it."""
    return EventLogResponse(
        event_log_id=e.id,
        when=e.when,
        dag_id=e.dag_id,
        task_id=e.task_id,
        run_id=e.run_id,
        map_index=e.map_index,
        try_number=e.try_number,
        event=e.event,
        logical_date=e.logical_date,
        owner=e.actor,
        extra=None if e.extra is None else json.dumps(e.extra),
        dag_display_name=e.dag_id,
    )


@api.get("/eventLogs")
@api.input(EventLogsQuery, location="query", arg_name="query")
@api.output(EventLogCollectionResponse)
@api.doc(tags=["Event Log"])
def get_event_logs(query: EventLogsQuery) -> EventLogCollectionResponse:
    """List audit events (trigger, clear, mark, pause, delete, approve, edits of pools, variables, connections, users)."""
    flt = service.EventFilter(
        dag_id=query.dag_id,
        task_id=query.task_id,
        run_id=query.run_id,
        map_index=query.map_index,
        try_number=query.try_number,
        owner=query.owner,
        event=query.event,
        included_events=tuple(e for e in query.included_events if e),
        excluded_events=tuple(e for e in query.excluded_events if e),
        before=utc(query.before),
        after=utc(query.after),
        hidden_dag_ids=hidden_dags(),
    )
    page = service.query_events(web_context().db, flt, query.slice())
    return EventLogCollectionResponse(event_logs=[event_response(e) for e in page.items], total_entries=page.total)


@api.get("/eventLogs/<int:event_log_id>")
@api.output(EventLogResponse)
@api.doc(tags=["Event Log"], responses={404: "Not Found"})
def get_event_log(event_log_id: int) -> EventLogResponse:
    """One audit event."""
    event = service.get_event(web_context().db, event_log_id)
    if event.dag_id is not None:
        check_dag(event.dag_id)  # its DAG's access_control must let the caller read it
    return event_response(event)
