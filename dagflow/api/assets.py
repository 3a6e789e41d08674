"""``/assets`` and ``/assets/events``: assets with their consumers and producers, their events; an event by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from dagflow.api.common import Body, ListQuery, api
from dagflow.services import assets as service
from dagflow.web.context import web_context

ERRORS = {404: "Not Found", 422: "Invalid input"}


class DagScheduleAssetReference(BaseModel):
    """A DAG scheduled on the asset."""

    dag_id: str
    created_at: datetime
    updated_at: datetime


class TaskOutletAssetReference(BaseModel):
    """A task with the asset in its ``outlets``."""

    dag_id: str
    task_id: str
    created_at: datetime
    updated_at: datetime


class LastAssetEvent(BaseModel):
    """The asset's newest event."""

    id: int | None = None
    timestamp: datetime | None = None


class AssetResponse(BaseModel):
    """One asset, in Airflow 3's fields."""

    id: int
    name: str
    uri: str
    group: str
    extra: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    consuming_dags: list[DagScheduleAssetReference]
    producing_tasks: list[TaskOutletAssetReference]
    aliases: list[dict[str, Any]]
    last_asset_event: LastAssetEvent | None = None


class AssetCollectionResponse(BaseModel):
    """A page of assets."""

    assets: list[AssetResponse]
    total_entries: int


class DagRunAssetReference(BaseModel):
    """A run an asset event triggered."""

    run_id: str
    dag_id: str
    logical_date: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    state: str
    data_interval_start: datetime | None = None
    data_interval_end: datetime | None = None


class AssetEventResponse(BaseModel):
    """One asset event, in Airflow 3's fields."""

    id: int
    asset_id: int
    uri: str
    name: str
    group: str
    extra: dict[str, Any] | None = None
    source_task_id: str | None = None
    source_dag_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int
    created_dagruns: list[DagRunAssetReference]
    timestamp: datetime


class AssetEventCollectionResponse(BaseModel):
    """A page of asset events."""

    asset_events: list[AssetEventResponse]
    total_entries: int


class AssetsQuery(ListQuery):
    """``GET /assets`` filters."""

    uri_pattern: str | None = None
    dag_ids: list[str] = Field(default_factory=list)


class AssetEventsQuery(ListQuery):
    """``GET /assets/events`` filters."""

    asset_id: int | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    source_map_index: int | None = None


class CreateAssetEventsBody(Body):
    """``POST /assets/events``: an event of an asset recorded by hand (no producing task)."""

    asset_id: int
    extra: dict[str, Any] = Field(default_factory=dict)


def _asset(a: service.AssetSummary) -> AssetResponse:
    def ref(dag_task: str) -> TaskOutletAssetReference:
        dag_id, _, task_id = dag_task.partition(".")
        return TaskOutletAssetReference(
            dag_id=dag_id, task_id=task_id, created_at=a.created_at, updated_at=a.updated_at
        )

    return AssetResponse(
        id=a.id,
        name=a.name,
        uri=a.uri,
        group=a.group,
        extra=a.extra,
        created_at=a.created_at,
        updated_at=a.updated_at,
        consuming_dags=[
            DagScheduleAssetReference(dag_id=d, created_at=a.created_at, updated_at=a.updated_at)
            for d in a.consuming_dags
        ],
        producing_tasks=[ref(t) for t in a.producing_tasks],
        aliases=[],
        last_asset_event=LastAssetEvent(timestamp=a.last_event_at) if a.last_event_at else None,
    )


def _events(events: list[service.AssetEventInfo]) -> list[AssetEventResponse]:
    runs = service.created_dag_runs(web_context().db, [e.id for e in events])
    return [
        AssetEventResponse(
            id=e.id,
            asset_id=e.asset_id,
            uri=e.uri,
            name=e.name or e.uri,
            group=e.group,
            extra=e.extra,
            source_task_id=e.source_task_id,
            source_dag_id=e.source_dag_id,
            source_run_id=e.source_run_id,
            source_map_index=e.source_map_index,
            created_dagruns=[DagRunAssetReference(**run) for run in runs.get(e.id, [])],
            timestamp=e.timestamp,
        )
        for e in events
    ]


@api.get("/assets")
@api.input(AssetsQuery, location="query", arg_name="query")
@api.output(AssetCollectionResponse)
@api.doc(tags=["Asset"], responses={422: "Invalid input"})
def get_assets(query: AssetsQuery) -> AssetCollectionResponse:
    """List assets with the DAGs scheduled on them and the tasks that produce them."""
    page = service.page_assets(web_context().db, query.slice(), uri_pattern=query.uri_pattern, dag_ids=query.dag_ids)
    return AssetCollectionResponse(assets=[_asset(a) for a in page.items], total_entries=page.total)


@api.get("/assets/events")
@api.input(AssetEventsQuery, location="query", arg_name="query")
@api.output(AssetEventCollectionResponse)
@api.doc(tags=["Asset"], responses={422: "Invalid input"})
def get_asset_events(query: AssetEventsQuery) -> AssetEventCollectionResponse:
    """List asset events (oldest first unless ``order_by``), with the runs each triggered."""
    flt = service.EventFilter(
        asset_id=query.asset_id,
        source_dag_id=query.source_dag_id,
        source_task_id=query.source_task_id,
        source_run_id=query.source_run_id,
        source_map_index=query.source_map_index,
    )
    page = service.page_asset_events(web_context().db, query.slice(), flt)
    return AssetEventCollectionResponse(asset_events=_events(list(page.items)), total_entries=page.total)


@api.post("/assets/events")
@api.input(CreateAssetEventsBody, arg_name="body")
@api.output(AssetEventResponse)
@api.doc(tags=["Asset"], responses=ERRORS)
def create_asset_event(body: CreateAssetEventsBody) -> AssetEventResponse:
    """Record an event of an asset by hand: the DAGs scheduled on it are queued as if a task produced it."""
    event = service.create_asset_event(web_context().db, asset_id=body.asset_id, extra=body.extra)
    return _events([event])[0]


@api.get("/assets/<int:asset_id>")
@api.output(AssetResponse)
@api.doc(tags=["Asset"], responses={404: "Not Found"})
def get_asset(asset_id: int) -> AssetResponse:
    """One asset."""
    return _asset(service.get_asset(web_context().db, asset_id))
