"""``.../taskInstances/{task_id}/xcomEntries``: list (``~`` for the DAG, run or task, as Airflow) and get one value."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, ListQuery, Query, api, dag_id_arg, run_id_arg, task_id_arg
from dagflow.services import xcoms as service
from dagflow.services.xcoms import XComRecord
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context


class XComResponse(BaseModel):
    """An XCom entry without its value."""

    key: str
    timestamp: datetime
    logical_date: datetime | None = None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: datetime | None = None


class XComResponseNative(XComResponse):
    """An XCom entry with its JSON value (``stringify=true``: the value as a string)."""

    value: Any = None


class XComCollectionResponse(BaseModel):
    """A page of XCom entries."""

    xcom_entries: list[XComResponse]
    total_entries: int


class XComsQuery(ListQuery):
    """``xcom_key`` and ``map_index`` filters."""

    xcom_key: str | None = Field(default=None, max_length=512)
    map_index: int | None = Field(default=None, ge=-1)


class XComQuery(Query):
    """``map_index`` of the entry; ``stringify`` gives the value as a string (``deserialize`` is accepted: values are JSON)."""

    map_index: int = Field(default=-1, ge=-1)
    deserialize: bool = False
    stringify: bool = False


def _fields(x: XComRecord) -> dict[str, Any]:
    return {
        "key": x.key,
        "timestamp": x.timestamp,
        "logical_date": x.logical_date,
        "map_index": x.map_index,
        "task_id": x.task_id,
        "dag_id": x.dag_id,
        "run_id": x.run_id,
        "dag_display_name": x.dag_id,
        "task_display_name": x.task_id,
        "run_after": x.logical_date,
    }


def _any(value: str, check: Any) -> str | None:
    return None if value == "~" else check(value)


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>/xcomEntries")
@api.input(XComsQuery, location="query", arg_name="query")
@api.output(XComCollectionResponse)
@api.doc(tags=["XCom"], responses=ID_ERRORS)
def get_xcom_entries(dag_id: str, dag_run_id: str, task_id: str, query: XComsQuery) -> XComCollectionResponse:
    """XCom entries of a task instance; ``~`` for the DAG, run or task lists across them."""
    flt = service.XComFilter(
        dag_id=_any(dag_id, dag_id_arg),
        run_id=_any(dag_run_id, run_id_arg),
        task_id=_any(task_id, task_id_arg),
        key=query.xcom_key,
        map_index=query.map_index,
        hidden_dag_ids=hidden_dags(),
    )
    page = service.query_xcoms(web_context().db, flt, query.slice())
    return XComCollectionResponse(
        xcom_entries=[XComResponse(**_fields(x)) for x in page.items], total_entries=page.total
    )


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>/xcomEntries/<xcom_key>")
@api.input(XComQuery, location="query", arg_name="query")
@api.output(XComResponseNative)
@api.doc(tags=["XCom"], responses=ID_ERRORS)
def get_xcom_entry(dag_id: str, dag_run_id: str, task_id: str, xcom_key: str, query: XComQuery) -> XComResponseNative:
    """One XCom entry with its value."""
    context = web_context()
    entry = service.get_xcom(
        context.settings,
        context.db,
        dag_id=dag_id_arg(dag_id),
        run_id=run_id_arg(dag_run_id),
        task_id=task_id_arg(task_id),
        key=xcom_key,
        map_index=query.map_index,
    )
    value = json.dumps(entry.value) if query.stringify else entry.value
    return XComResponseNative(**_fields(entry), value=value)
