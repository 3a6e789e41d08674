"""``/dags``: list (tags, dag_id_pattern, paused), get, details, pause/unpause one or many, delete; ``/dagTags``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, MAX_INT, Body, ListQuery, Query, api, dag_id_arg, file_token
from dagflow.serialization import SerializedDag
from dagflow.services import dags as service
from dagflow.services.dag_access import CAN_EDIT, CAN_READ
from dagflow.services.dag_runs import delete_dag as delete_dag_service
from dagflow.services.records import DagRecord
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context

_ONE_OFF = (None, "", "None", "@once")


class DagTagResponse(BaseModel):
    """A tag of a DAG."""

    name: str
    dag_id: str
    dag_display_name: str


class DAGResponse(BaseModel):
    """A DAG, in Airflow 3's fields."""

    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: datetime | None = None
    last_parse_duration: float | None = None
    last_expired: datetime | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    relative_fileloc: str | None = None
    fileloc: str
    description: str | None = None
    timetable_summary: str | None = None
    timetable_description: str | None = None
    timetable_partitioned: bool = False
    timetable_periodic: bool
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None = None
    max_consecutive_failed_dag_runs: int = 0
    has_task_concurrency_limits: bool
    has_import_errors: bool
    is_backfillable: bool
    next_dagrun_logical_date: datetime | None = None
    next_dagrun_data_interval_start: datetime | None = None
    next_dagrun_data_interval_end: datetime | None = None
    next_dagrun_run_after: datetime | None = None
    owners: list[str]
    file_token: str


class DAGCollectionResponse(BaseModel):
    """A page of DAGs."""

    dags: list[DAGResponse]
    total_entries: int


class DAGDetailsResponse(DAGResponse):
    """A DAG with the settings its file declares."""

    catchup: bool
    dag_run_timeout: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    is_paused_upon_creation: bool | None = None
    params: dict[str, Any] | None = None
    render_template_as_native_obj: bool
    template_search_path: list[str] | None = None
    timezone: str | None = None
    doc_md: str | None = None
    concurrency: int
    last_parsed: datetime | None = None
    default_args: dict[str, Any] | None = None
    owner_links: dict[str, str] | None = None
    is_favorite: bool = False


class DAGPatchBody(Body):
    """What ``PATCH /dags/{dag_id}`` may change."""

    is_paused: bool


class DagsQuery(ListQuery):
    """``GET /dags`` filters."""

    tags: list[str] = Field(default_factory=list)
    tags_match_mode: Literal["any", "all"] = "any"
    dag_id_pattern: str | None = None
    paused: bool | None = None
    exclude_stale: bool = True


class PatchQuery(Query):
    """``update_mask`` as Airflow takes it (only ``is_paused`` can change)."""

    update_mask: list[str] = Field(default_factory=list)


class DagTagCollectionResponse(BaseModel):
    """Tag names."""

    tags: list[str]
    total_entries: int


class TagsQuery(ListQuery):
    """``GET /dagTags`` filters."""

    tag_name_pattern: str | None = None


def dag_response(dag: DagRecord, model: type[DAGResponse] = DAGResponse, **extra: Any) -> Any:
    """A ``DAGResponse`` (or subclass) from a service record."""
    return model(
        dag_id=dag.dag_id,
        dag_display_name=dag.dag_id,
        is_paused=dag.is_paused,
        is_stale=not dag.is_active,
        last_parsed_time=dag.last_parsed_at,
        fileloc=dag.fileloc or "",
        relative_fileloc=(dag.fileloc or "").rsplit("/", 1)[-1] or None,
        description=dag.description,
        timetable_summary=dag.schedule,
        timetable_description=dag.schedule,
        timetable_periodic=dag.schedule not in _ONE_OFF,
        tags=[DagTagResponse(name=t, dag_id=dag.dag_id, dag_display_name=dag.dag_id) for t in dag.tags],
        max_active_tasks=dag.max_active_tasks or 16,
        max_active_runs=dag.max_active_runs,
        has_task_concurrency_limits=extra.pop("has_task_concurrency_limits", False),
        has_import_errors=dag.has_import_errors,
        is_backfillable=dag.schedule not in _ONE_OFF,
        next_dagrun_logical_date=dag.next_dagrun,
        next_dagrun_data_interval_start=dag.next_dagrun_data_interval_start,
        next_dagrun_data_interval_end=dag.next_dagrun_data_interval_end,
        next_dagrun_run_after=dag.next_dagrun_create_after,
        owners=list(dag.owners),
        file_token=file_token(dag.fileloc),
        **extra,
    )


@api.get("/dags")
@api.input(DagsQuery, location="query", arg_name="query")
@api.output(DAGCollectionResponse)
@api.doc(tags=["DAG"])
def get_dags(query: DagsQuery) -> DAGCollectionResponse:
    """List DAGs, filtered by tags, a dag_id substring and paused, paged and ordered."""
    flt = service.DagFilter(
        tags=tuple(query.tags),
        tags_match_mode=query.tags_match_mode,
        dag_id_pattern=query.dag_id_pattern,
        paused=query.paused,
        only_active=query.exclude_stale,
        hidden_dag_ids=hidden_dags(),
    )
    page = service.query_dags(web_context().db, flt, query.slice())
    return DAGCollectionResponse(dags=[dag_response(d) for d in page.items], total_entries=page.total)


@api.get("/dags/<dag_id>")
@api.output(DAGResponse)
@api.doc(tags=["DAG"], responses=ID_ERRORS)
def get_dag(dag_id: str) -> DAGResponse:
    """One DAG."""
    result: DAGResponse = dag_response(service.get_dag(web_context().db, dag_id_arg(dag_id)))
    return result


@api.get("/dags/<dag_id>/details")
@api.output(DAGDetailsResponse)
@api.doc(tags=["DAG"], responses=ID_ERRORS)
def get_dag_details(dag_id: str) -> DAGDetailsResponse:
    """One DAG with the settings, params and docs its file declares."""
    db = web_context().db
    record = service.get_dag(db, dag_id_arg(dag_id))
    sdag = service.get_serialized_dag(db, dag_id)
    result: DAGDetailsResponse = dag_response(record, DAGDetailsResponse, **_details(sdag))
    return result


def _details(sdag: SerializedDag) -> dict[str, Any]:
    return {
        "catchup": sdag.catchup,
        "dag_run_timeout": _duration(sdag.dagrun_timeout),
        "start_date": sdag.start_date,
        "end_date": sdag.end_date,
        "is_paused_upon_creation": sdag.is_paused_upon_creation,
        "params": {name: dict(spec) for name, spec in sdag.params.items()},
        "render_template_as_native_obj": sdag.render_template_as_native_obj,
        "timezone": sdag.timezone,
        "doc_md": sdag.doc_md,
        "concurrency": sdag.max_active_tasks,
        "has_task_concurrency_limits": any(t.max_active_tis_per_dag for t in sdag.tasks.values()),
    }


def _duration(value: timedelta | None) -> str | None:
    return None if value is None else f"PT{value.total_seconds():g}S"


@api.patch("/dags/<dag_id>")
@api.input(DAGPatchBody, arg_name="body")
@api.input(PatchQuery, location="query", arg_name="query")
@api.output(DAGResponse)
@api.doc(tags=["DAG"], responses=ID_ERRORS)
def patch_dag(dag_id: str, body: DAGPatchBody, query: PatchQuery) -> DAGResponse:
    """Pause or unpause a DAG."""
    _check_mask(query.update_mask)
    db = web_context().db
    service.get_dag(db, dag_id_arg(dag_id))
    service.set_paused_many(db, [dag_id], paused=body.is_paused)
    result: DAGResponse = dag_response(service.get_dag(db, dag_id))
    return result


class DagsPatchQuery(PatchQuery):
    """Which DAGs ``PATCH /dags`` changes (as ``GET /dags`` filters them)."""

    limit: int = Field(default=50, ge=0, le=MAX_INT)
    offset: int = Field(default=0, ge=0, le=MAX_INT)
    tags: list[str] = Field(default_factory=list)
    tags_match_mode: Literal["any", "all"] = "any"
    dag_id_pattern: str | None = None
    exclude_stale: bool = True


@api.patch("/dags")
@api.input(DAGPatchBody, arg_name="body")
@api.input(DagsPatchQuery, location="query", arg_name="query")
@api.output(DAGCollectionResponse)
@api.doc(tags=["DAG"])
def patch_dags(body: DAGPatchBody, query: DagsPatchQuery) -> DAGCollectionResponse:
    """Pause or unpause every DAG that matches the filters (one page of them)."""
    _check_mask(query.update_mask)
    db = web_context().db
    flt = service.DagFilter(
        tags=tuple(query.tags),
        tags_match_mode=query.tags_match_mode,
        dag_id_pattern=query.dag_id_pattern,
        only_active=query.exclude_stale,
        hidden_dag_ids=hidden_dags(CAN_READ) | hidden_dags(CAN_EDIT),
    )
    part = ListQuery(limit=query.limit, offset=query.offset).slice()
    page = service.query_dags(db, flt, part)
    service.set_paused_many(db, [d.dag_id for d in page.items], paused=body.is_paused)
    changed = service.query_dags(db, service.DagFilter(dag_ids=tuple(d.dag_id for d in page.items)), part)
    return DAGCollectionResponse(dags=[dag_response(d) for d in changed.items], total_entries=page.total)


def _check_mask(mask: list[str]) -> None:
    from dagflow.exceptions import InvalidInput

    unknown = [m for m in mask if m != "is_paused"]
    if unknown:
        raise InvalidInput(f"only is_paused can be updated, not {unknown[0]!r}")


@api.delete("/dags/<dag_id>")
@api.output({}, status_code=204)
@api.doc(tags=["DAG"], responses=ID_ERRORS)
def delete_dag(dag_id: str) -> tuple[str, int]:
    """Delete a DAG's runs, task instances, XComs and records (its file stays and is parsed again)."""
    delete_dag_service(web_context().db, dag_id_arg(dag_id))
    return "", 204


@api.get("/dagTags")
@api.input(TagsQuery, location="query", arg_name="query")
@api.output(DagTagCollectionResponse)
@api.doc(tags=["DAG"])
def get_dag_tags(query: TagsQuery) -> DagTagCollectionResponse:
    """Every tag of a DAG, sorted."""
    tags = service.dag_tags(web_context().db, pattern=query.tag_name_pattern, hidden_dag_ids=hidden_dags())
    part = query.slice()
    return DagTagCollectionResponse(tags=tags[part.offset : part.offset + part.limit], total_entries=len(tags))
