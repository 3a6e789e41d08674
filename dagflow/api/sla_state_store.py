"""dagflow's own resources in Airflow's style: SLA misses (``/slaMisses``) and the state store (``/stateStore``)."""

from __future__ import annotations

import json
from datetime import datetime

from pydantic import BaseModel, Field, JsonValue

from dagflow.api.common import ID_ERRORS, Body, ListQuery, api, dag_id_arg
from dagflow.exceptions import InvalidInput
from dagflow.services import sla
from dagflow.services import state_store as store
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context

#: Largest JSON value the API stores (the state store is for small bookkeeping values).
MAX_VALUE_BYTES = 64 * 1024


class SLAMissResponse(BaseModel):
    """A task that was not done by its run's data interval end + its ``sla``."""

    id: int
    dag_id: str
    task_id: str
    dag_run_id: str
    map_index: int
    logical_date: datetime | None = None
    expected_by: datetime
    late_by_seconds: float
    detected_at: datetime
    callback_ran: bool


class SLAMissCollectionResponse(BaseModel):
    """A page of SLA misses."""

    sla_misses: list[SLAMissResponse]
    total_entries: int


class SlaMissesQuery(ListQuery):
    """``dag_id`` filter."""

    dag_id: str | None = Field(default=None, max_length=250)


@api.get("/slaMisses")
@api.input(SlaMissesQuery, location="query", arg_name="query")
@api.output(SLAMissCollectionResponse)
@api.doc(tags=["SLA Miss"])
def get_sla_misses(query: SlaMissesQuery) -> SLAMissCollectionResponse:
    """SLA misses the scheduler recorded, newest first (of one DAG with ``dag_id``)."""
    dag_id = None if query.dag_id is None else dag_id_arg(query.dag_id)
    page = sla.query_sla_misses(web_context().db, query.slice(), dag_id=dag_id, hidden_dag_ids=hidden_dags())
    items = [
        SLAMissResponse(
            id=m.id,
            dag_id=m.dag_id,
            task_id=m.task_id,
            dag_run_id=m.run_id,
            map_index=m.map_index,
            logical_date=m.logical_date,
            expected_by=m.expected_by,
            late_by_seconds=m.late_by_seconds,
            detected_at=m.detected_at,
            callback_ran=m.callback_ran,
        )
        for m in page.items
    ]
    return SLAMissCollectionResponse(sla_misses=items, total_entries=page.total)


class StateStoreEntryResponse(BaseModel):
    """One stored JSON value."""

    namespace: str
    key: str
    value: JsonValue = None
    updated_at: datetime | None = None


class StateStoreCollectionResponse(BaseModel):
    """A page of stored values."""

    entries: list[StateStoreEntryResponse]
    total_entries: int


class StateStoreQuery(ListQuery):
    """``namespace`` filter."""

    namespace: str | None = Field(default=None, max_length=250)


class StateStoreBody(Body):
    """The JSON value to store."""

    value: JsonValue = None


def _entry(e: store.StateStoreRecord) -> StateStoreEntryResponse:
    return StateStoreEntryResponse(namespace=e.namespace, key=e.key, value=e.value, updated_at=e.updated_at)


def _names(namespace: str, key: str) -> tuple[str, str]:
    if not (0 < len(namespace) <= 250 and 0 < len(key) <= 512):
        raise InvalidInput("namespace must be 1-250 characters and key 1-512")
    return namespace, key


@api.get("/stateStore")
@api.input(StateStoreQuery, location="query", arg_name="query")
@api.output(StateStoreCollectionResponse)
@api.doc(tags=["State Store"])
def get_state_store_entries(query: StateStoreQuery) -> StateStoreCollectionResponse:
    """Stored values by namespace and key (of one namespace with ``namespace``)."""
    entries = store.list_values(web_context().db, namespace=query.namespace)
    part = query.slice()
    if part.order_by:
        raise InvalidInput("the state store is listed by namespace and key only")
    window = entries[part.offset : part.offset + part.limit]
    return StateStoreCollectionResponse(entries=[_entry(e) for e in window], total_entries=len(entries))


@api.get("/stateStore/<namespace>/<key>")
@api.output(StateStoreEntryResponse)
@api.doc(tags=["State Store"], responses=ID_ERRORS)
def get_state_store_entry(namespace: str, key: str) -> StateStoreEntryResponse:
    """One stored value."""
    namespace, key = _names(namespace, key)
    return _entry(store.get_entry(web_context().db, key, namespace=namespace))


@api.put("/stateStore/<namespace>/<key>")
@api.input(StateStoreBody, arg_name="body")
@api.output(StateStoreEntryResponse)
@api.doc(tags=["State Store"], responses=ID_ERRORS)
def put_state_store_entry(namespace: str, key: str, body: StateStoreBody) -> StateStoreEntryResponse:
    """Store a JSON value under the namespace and key (replacing any previous one)."""
    namespace, key = _names(namespace, key)
    if len(json.dumps(body.value).encode()) > MAX_VALUE_BYTES:
        raise InvalidInput(f"the value is larger than {MAX_VALUE_BYTES} bytes")
    db = web_context().db
    store.set_value(db, key, body.value, namespace=namespace)
    return _entry(store.get_entry(db, key, namespace=namespace))


@api.delete("/stateStore/<namespace>/<key>")
@api.output({}, status_code=204)
@api.doc(tags=["State Store"], responses=ID_ERRORS)
def delete_state_store_entry(namespace: str, key: str) -> tuple[str, int]:
    """Delete a stored value."""
    namespace, key = _names(namespace, key)
    store.delete_value(web_context().db, key, namespace=namespace)
    return "", 204
