"""``.../taskInstances``: list per run and across runs (``~``), get (with map_index), tries, patch, clear."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, Body, ListQuery, Query, api, dag_id_arg, run_id_arg, task_id_arg, ti_uuid, utc
from dagflow.api.dag_runs import DAGRunClearBody
from dagflow.exceptions import InvalidInput, TaskInstanceNotFound
from dagflow.services import clearing
from dagflow.services import task_instances as service
from dagflow.services.dag_runs import get_run
from dagflow.services.dependencies import task_instance_dependencies
from dagflow.services.listing import Slice
from dagflow.services.records import TaskInstanceRecord, TryRecord
from dagflow.state import TaskInstanceState
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context

#: Airflow's task-instance states (``none`` is ``null``).
TIState = Literal[
    "removed", "scheduled", "queued", "running", "success", "restarting", "failed",
    "up_for_retry", "up_for_reschedule", "upstream_failed", "skipped", "deferred",
]  # fmt: skip
_STATES = {s.value for s in TaskInstanceState} | {"no_status"}


class TaskInstanceResponse(BaseModel):
    """A task instance, in Airflow 3's fields."""

    id: str
    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    logical_date: datetime | None = None
    run_after: datetime
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    state: TIState | None = None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None = None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None = None
    operator_name: str | None = None
    queued_when: datetime | None = None
    scheduled_when: datetime | None = None
    pid: int | None = None
    executor: str | None = None
    executor_config: str
    note: str | None = None
    rendered_map_index: str | None = None
    rendered_fields: dict[str, Any] = Field(default_factory=dict)
    trigger: dict[str, Any] | None = None
    triggerer_job: dict[str, Any] | None = None
    dag_version: dict[str, Any] | None = None


class TaskInstanceCollectionResponse(BaseModel):
    """A page of task instances."""

    task_instances: list[TaskInstanceResponse]
    total_entries: int


class TaskInstanceHistoryResponse(BaseModel):
    """One try of a task instance."""

    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None = None
    end_date: datetime | None = None
    duration: float | None = None
    state: TIState | None = None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None = None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None = None
    operator_name: str | None = None
    queued_when: datetime | None = None
    scheduled_when: datetime | None = None
    pid: int | None = None
    executor: str | None = None
    executor_config: str
    end_reason: str | None = None


class TaskInstanceHistoryCollectionResponse(BaseModel):
    """Every try of a task instance."""

    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


class TaskInstancesQuery(ListQuery):
    """``GET .../taskInstances`` filters."""

    state: list[str] = Field(default_factory=list)
    task_id: list[str] = Field(default_factory=list)
    pool: list[str] = Field(default_factory=list)
    queue: list[str] = Field(default_factory=list)
    map_index: int | None = None
    logical_date_gte: datetime | None = None
    logical_date_lte: datetime | None = None
    start_date_gte: datetime | None = None
    start_date_lte: datetime | None = None
    end_date_gte: datetime | None = None
    end_date_lte: datetime | None = None
    duration_gte: float | None = None
    duration_lte: float | None = None


class PatchTaskInstanceBody(Body):
    """``PATCH``: a new state (with relatives) and/or a note."""

    new_state: Literal["success", "failed", "skipped"] | None = None
    note: str | None = Field(default=None, max_length=1000)
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


class ClearTaskInstancesBody(Body):
    """``POST /dags/{dag_id}/clearTaskInstances``."""

    dry_run: bool = True
    start_date: datetime | None = None
    end_date: datetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    task_ids: list[str] | None = None
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


def ti_response(ti: TaskInstanceRecord) -> TaskInstanceResponse:
    """A ``TaskInstanceResponse`` from a service record."""
    return TaskInstanceResponse(
        id=str(ti_uuid(ti.id)),
        task_id=ti.task_id,
        dag_id=ti.dag_id,
        dag_run_id=ti.run_id,
        map_index=ti.map_index,
        logical_date=ti.logical_date,
        run_after=ti.logical_date or ti.queued_at or ti.scheduled_at or datetime.fromtimestamp(0).astimezone(),
        start_date=ti.start_date,
        end_date=ti.end_date,
        duration=ti.duration,
        state=ti.state,  # type: ignore[arg-type]
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        task_display_name=ti.task_id,
        dag_display_name=ti.dag_id,
        hostname=ti.hostname,
        pool=ti.pool,
        pool_slots=ti.pool_slots,
        queue=ti.queue,
        priority_weight=ti.priority_weight,
        operator=ti.operator,
        operator_name=ti.operator,
        queued_when=ti.queued_at,
        scheduled_when=ti.scheduled_at,
        pid=ti.pid,
        executor_config=json.dumps(ti.executor_config or {}),
        note=ti.note,
    )


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances")
@api.input(TaskInstancesQuery, location="query", arg_name="query")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_task_instances(dag_id: str, dag_run_id: str, query: TaskInstancesQuery) -> TaskInstanceCollectionResponse:
    """List task instances of a run; ``~`` for the DAG and/or the run lists across DAGs and runs."""
    bad = [s for s in query.state if s not in _STATES]
    if bad:
        raise InvalidInput(f"invalid task instance state {bad[0]!r}")
    flt = service.TaskInstanceFilter(
        dag_id=None if dag_id == "~" else dag_id_arg(dag_id),
        run_id=None if dag_run_id == "~" else run_id_arg(dag_run_id),
        task_ids=tuple(query.task_id),
        states=tuple(query.state),
        map_index=query.map_index,
        pools=tuple(query.pool),
        queues=tuple(query.queue),
        logical_date_gte=utc(query.logical_date_gte),
        logical_date_lte=utc(query.logical_date_lte),
        start_date_gte=utc(query.start_date_gte),
        start_date_lte=utc(query.start_date_lte),
        end_date_gte=utc(query.end_date_gte),
        end_date_lte=utc(query.end_date_lte),
        duration_gte=query.duration_gte,
        duration_lte=query.duration_lte,
        hidden_dag_ids=hidden_dags(),
    )
    page = service.query_task_instances(web_context().db, flt, query.slice())
    return TaskInstanceCollectionResponse(task_instances=[ti_response(t) for t in page.items], total_entries=page.total)


def _get(dag_id: str, dag_run_id: str, task_id: str, map_index: int) -> TaskInstanceResponse:
    record = service.get_task_instance(
        web_context().db, dag_id_arg(dag_id), run_id_arg(dag_run_id), task_id_arg(task_id), map_index
    )
    return ti_response(record)


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>")
@api.output(TaskInstanceResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_task_instance(dag_id: str, dag_run_id: str, task_id: str) -> TaskInstanceResponse:
    """One (unmapped) task instance."""
    return _get(dag_id, dag_run_id, task_id, -1)


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>/<int(signed=True):map_index>")
@api.output(TaskInstanceResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_mapped_task_instance(dag_id: str, dag_run_id: str, task_id: str, map_index: int) -> TaskInstanceResponse:
    """One mapped task instance."""
    return _get(dag_id, dag_run_id, task_id, map_index)


def _tries(dag_id: str, dag_run_id: str, task_id: str, map_index: int) -> TaskInstanceHistoryCollectionResponse:
    db = web_context().db
    ti = service.get_task_instance(db, dag_id_arg(dag_id), run_id_arg(dag_run_id), task_id_arg(task_id), map_index)
    tries = service.task_instance_tries(db, dag_id, dag_run_id, task_id, map_index)
    items = [_try_response(t, ti) for t in tries]
    return TaskInstanceHistoryCollectionResponse(task_instances=items, total_entries=len(items))


def _try_response(t: TryRecord, ti: TaskInstanceRecord) -> TaskInstanceHistoryResponse:
    return TaskInstanceHistoryResponse(
        task_id=t.task_id,
        dag_id=t.dag_id,
        dag_run_id=t.run_id,
        map_index=t.map_index,
        start_date=t.start_date,
        end_date=t.end_date,
        duration=t.duration,
        state=t.state,  # type: ignore[arg-type]
        try_number=t.try_number,
        max_tries=ti.max_tries,
        task_display_name=t.task_id,
        dag_display_name=t.dag_id,
        hostname=t.hostname,
        pool=ti.pool,
        pool_slots=ti.pool_slots,
        queue=ti.queue,
        priority_weight=ti.priority_weight,
        operator=ti.operator,
        operator_name=ti.operator,
        pid=t.pid,
        executor_config=json.dumps(ti.executor_config or {}),
        end_reason=t.reason,
    )


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>/tries")
@api.output(TaskInstanceHistoryCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_task_instance_tries(dag_id: str, dag_run_id: str, task_id: str) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a task instance, and why each ended."""
    return _tries(dag_id, dag_run_id, task_id, -1)


@api.get("/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>/<int(signed=True):map_index>/tries")
@api.output(TaskInstanceHistoryCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_mapped_task_instance_tries(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskInstanceHistoryCollectionResponse:
    """Every try of a mapped task instance."""
    return _tries(dag_id, dag_run_id, task_id, map_index)


def _mark_request(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int | None, body: PatchTaskInstanceBody
) -> Any:
    state = TaskInstanceState(body.new_state or "success")
    return clearing.MarkRequest(
        dag_id_arg(dag_id),
        run_id_arg(dag_run_id),
        task_id_arg(task_id),
        state,
        map_indexes=None if map_index is None else (map_index,),
        upstream=body.include_upstream,
        downstream=body.include_downstream,
        past=body.include_past,
        future=body.include_future,
    )


def _patch(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int | None, body: PatchTaskInstanceBody
) -> TaskInstanceCollectionResponse:
    context = web_context()
    mark = _mark_request(dag_id, dag_run_id, task_id, map_index, body)
    named = _named(mark.dag_id, mark.run_id, mark.task_id, map_index)  # 404 before any write
    changed: list[TaskInstanceRecord] = []
    if body.new_state is not None:
        changed = [m.ti for m in clearing.mark_task_instances(context.settings, context.db, mark)]
    if "note" in body.model_fields_set:
        for ti in named:
            service.set_task_instance_note(context.db, ti.dag_id, ti.run_id, ti.task_id, body.note, ti.map_index)
    if not changed or "note" in body.model_fields_set:
        changed = _named(mark.dag_id, mark.run_id, mark.task_id, map_index)
    return TaskInstanceCollectionResponse(task_instances=[ti_response(t) for t in changed], total_entries=len(changed))


def _named(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> list[TaskInstanceRecord]:
    """The task instance a path names (every map index of a mapped task on the unmapped path)."""
    flt = service.TaskInstanceFilter(dag_id=dag_id, run_id=run_id, task_ids=(task_id,), map_index=map_index)
    found = list(service.query_task_instances(web_context().db, flt, Slice(limit=100_000)).items)
    if not found:
        index = -1 if map_index is None else map_index
        raise TaskInstanceNotFound(f"no task instance {task_id!r} (map index {index}) in run {run_id!r} of {dag_id!r}")
    return found


def _patch_dry_run(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int | None, body: PatchTaskInstanceBody
) -> TaskInstanceCollectionResponse:
    context = web_context()
    mark = _mark_request(dag_id, dag_run_id, task_id, map_index, body)
    if body.new_state is None:
        return TaskInstanceCollectionResponse(task_instances=[], total_entries=0)
    would = [m.ti for m in clearing.mark_task_instances(context.settings, context.db, mark, dry_run=True)]
    return TaskInstanceCollectionResponse(task_instances=[ti_response(t) for t in would], total_entries=len(would))


class MapIndexQuery(Query):
    """``map_index`` on an unmapped path, as Airflow 3.1+ clients send it."""

    map_index: int | None = Field(default=None, ge=-1)


_TI = "/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>"
_MAPPED = _TI + "/<int(signed=True):map_index>"


@api.patch(_TI)
@api.input(PatchTaskInstanceBody, arg_name="body")
@api.input(MapIndexQuery, location="query", arg_name="query")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def patch_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, body: PatchTaskInstanceBody, query: MapIndexQuery
) -> Any:
    """Mark a task instance (every map index of a mapped task) and, with ``include_*``, its relatives and
    other runs; or set its note. The task instances changed."""
    return _patch(dag_id, dag_run_id, task_id, query.map_index, body)


@api.patch(_MAPPED)
@api.input(PatchTaskInstanceBody, arg_name="body")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def patch_mapped_task_instance(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, body: PatchTaskInstanceBody
) -> Any:
    """Mark one map index of a task instance (and relatives with ``include_*``), or set its note."""
    return _patch(dag_id, dag_run_id, task_id, map_index, body)


@api.patch(_TI + "/dry_run")
@api.input(PatchTaskInstanceBody, arg_name="body")
@api.input(MapIndexQuery, location="query", arg_name="query")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def patch_task_instance_dry_run(
    dag_id: str, dag_run_id: str, task_id: str, body: PatchTaskInstanceBody, query: MapIndexQuery
) -> Any:
    """The task instances ``PATCH`` with this body would change; nothing is written."""
    return _patch_dry_run(dag_id, dag_run_id, task_id, query.map_index, body)


@api.patch(_MAPPED + "/dry_run")
@api.input(PatchTaskInstanceBody, arg_name="body")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def patch_mapped_task_instance_dry_run(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int, body: PatchTaskInstanceBody
) -> Any:
    """The task instances ``PATCH`` of this map index would change; nothing is written."""
    return _patch_dry_run(dag_id, dag_run_id, task_id, map_index, body)


@api.post("/dags/<dag_id>/clearTaskInstances")
@api.input(ClearTaskInstancesBody, arg_name="body")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def post_clear_task_instances(dag_id: str, body: ClearTaskInstancesBody) -> TaskInstanceCollectionResponse:
    """Clear task instances of a DAG (by task ids, run or date range); ``dry_run`` (default) only lists them."""
    import re

    context = web_context()
    dag_id = dag_id_arg(dag_id)
    start, end = utc(body.start_date), utc(body.end_date)
    if body.dag_run_id is not None:
        run = get_run(context.db, dag_id, run_id_arg(body.dag_run_id))
        start = end = run.logical_date
    regex = None
    if body.task_ids:
        ids = [task_id_arg(t) for t in body.task_ids]
        regex = "^(" + "|".join(re.escape(t) for t in ids) + ")$"
    request = clearing.ClearRequest(
        dag_id,
        regex,
        start,
        end,
        only_failed=body.only_failed,
        only_running=body.only_running,
        downstream=body.include_downstream,
        upstream=body.include_upstream,
    )
    action = clearing.preview_clear if body.dry_run else clearing.clear_task_instances
    return _collection(action(context.settings, context.db, request))


def _collection(tis: list[TaskInstanceRecord]) -> TaskInstanceCollectionResponse:
    return TaskInstanceCollectionResponse(task_instances=[ti_response(t) for t in tis], total_entries=len(tis))


@api.post("/dags/<dag_id>/dagRuns/<dag_run_id>/clear")
@api.input(DAGRunClearBody, arg_name="body")
@api.output(TaskInstanceCollectionResponse)
@api.doc(tags=["DagRun"], responses=ID_ERRORS)
def clear_dag_run(dag_id: str, dag_run_id: str, body: DAGRunClearBody) -> TaskInstanceCollectionResponse:
    """Clear a run's task instances (its failed ones with ``only_failed``); ``dry_run`` only lists them.

    The task instances cleared (would be cleared), as they were before."""
    context = web_context()
    run = get_run(context.db, dag_id_arg(dag_id), run_id_arg(dag_run_id))
    when = run.logical_date
    request = clearing.ClearRequest(dag_id, None, when, when, only_failed=body.only_failed)
    action = clearing.preview_clear if body.dry_run else clearing.clear_task_instances
    return _collection(action(context.settings, context.db, request))


class TaskDependencyResponse(BaseModel):
    """One condition that holds a task instance back."""

    name: str
    reason: str


class TaskDependencyCollectionResponse(BaseModel):
    """Why a task instance is not running (empty: nothing holds it back)."""

    dependencies: list[TaskDependencyResponse]


def _dependencies(dag_id: str, dag_run_id: str, task_id: str, map_index: int) -> TaskDependencyCollectionResponse:
    found = task_instance_dependencies(
        web_context().db,
        dag_id=dag_id_arg(dag_id),
        run_id=run_id_arg(dag_run_id),
        task_id=task_id_arg(task_id),
        map_index=map_index,
    )
    return TaskDependencyCollectionResponse(
        dependencies=[TaskDependencyResponse(name=d.name, reason=d.reason) for d in found]
    )


@api.get(_TI + "/dependencies")
@api.input(MapIndexQuery, location="query", arg_name="query")
@api.output(TaskDependencyCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_task_instance_dependencies(
    dag_id: str, dag_run_id: str, task_id: str, query: MapIndexQuery
) -> TaskDependencyCollectionResponse:
    """Why the task instance is not running: each unmet condition (trigger rule, pool, concurrency, ...) and why."""
    return _dependencies(dag_id, dag_run_id, task_id, -1 if query.map_index is None else query.map_index)


@api.get(_MAPPED + "/dependencies")
@api.output(TaskDependencyCollectionResponse)
@api.doc(tags=["Task Instance"], responses=ID_ERRORS)
def get_mapped_task_instance_dependencies(
    dag_id: str, dag_run_id: str, task_id: str, map_index: int
) -> TaskDependencyCollectionResponse:
    """Why a mapped task instance is not running."""
    return _dependencies(dag_id, dag_run_id, task_id, map_index)
