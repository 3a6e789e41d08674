"""``/dags/{dag_id}/tasks`` and ``/dags/{dag_id}/tasks/{task_id}``: a DAG's tasks from its serialized form; ``/dagSources``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from flask import Response, request
from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, Query, api, dag_id_arg, task_id_arg
from dagflow.exceptions import InvalidInput
from dagflow.serialization import SerializedTask
from dagflow.services import dags as service
from dagflow.state import TriggerRule
from dagflow.web.context import web_context


class TimeDelta(BaseModel):
    """A duration as Airflow's API writes it."""

    type_: Literal["TimeDelta"] = Field(default="TimeDelta", alias="__type")
    days: int
    seconds: int
    microseconds: int

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class TaskResponse(BaseModel):
    """A task of a DAG, in Airflow 3's fields."""

    task_id: str
    task_display_name: str
    owner: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    trigger_rule: str | None = None
    depends_on_past: bool
    wait_for_downstream: bool
    retries: float | None = None
    queue: str | None = None
    pool: str | None = None
    pool_slots: float | None = None
    execution_timeout: TimeDelta | None = None
    retry_delay: TimeDelta | None = None
    #: The backoff multiplier, as Airflow 3.1+ gives it (0: no backoff; dagflow's backoff doubles: 2).
    retry_exponential_backoff: float
    priority_weight: float | None = None
    weight_rule: str | None = None
    ui_color: str | None = None
    ui_fgcolor: str | None = None
    template_fields: list[str] | None = None
    downstream_task_ids: list[str] | None = None
    doc_md: str | None = None
    operator_name: str | None = None
    params: dict[str, Any] | None = None
    class_ref: dict[str, Any] | None = None
    is_mapped: bool | None = None
    extra_links: list[str] = Field(default_factory=list)


class TaskCollectionResponse(BaseModel):
    """Every task of a DAG."""

    tasks: list[TaskResponse]
    total_entries: int


class TasksQuery(Query):
    """``order_by`` one task field (default ``task_id``; ``-`` for descending)."""

    order_by: str = "task_id"


def _delta(value: timedelta | None) -> TimeDelta | None:
    if value is None:
        return None
    return TimeDelta(days=value.days, seconds=value.seconds, microseconds=value.microseconds)


def task_response(task: SerializedTask) -> TaskResponse:
    """A ``TaskResponse`` from the serialized task."""
    module, _, name = task.operator_module.rpartition(".")
    return TaskResponse(
        task_id=task.task_id,
        task_display_name=task.task_id,
        owner=task.owner,
        trigger_rule=TriggerRule(task.trigger_rule).value,
        depends_on_past=task.depends_on_past,
        wait_for_downstream=task.wait_for_downstream,
        retries=task.retries,
        queue=task.queue,
        pool=task.pool,
        pool_slots=task.pool_slots,
        execution_timeout=_delta(task.execution_timeout),
        retry_delay=_delta(task.retry_delay),
        retry_exponential_backoff=2.0 if task.retry_exponential_backoff else 0.0,
        priority_weight=task.priority_weight,
        weight_rule=task.weight_rule,
        ui_color=task.ui_color,
        template_fields=list(task.template_fields),
        downstream_task_ids=sorted(task.downstream_task_ids),
        doc_md=task.doc_md,
        operator_name=task.task_type,
        class_ref={"module_path": module, "class_name": name or task.task_type},
        is_mapped=task.is_mapped,
    )


@api.get("/dags/<dag_id>/tasks")
@api.input(TasksQuery, location="query", arg_name="query")
@api.output(TaskCollectionResponse)
@api.doc(tags=["Task"], responses=ID_ERRORS)
def get_tasks(dag_id: str, query: TasksQuery) -> TaskCollectionResponse:
    """Every task of a DAG (from its serialized form), ordered by ``order_by``."""
    tasks = [task_response(t) for t in service.dag_tasks(web_context().db, dag_id_arg(dag_id))]
    name = query.order_by.lstrip("-")
    if name not in TaskResponse.model_fields:
        raise InvalidInput(f"ordering with {name!r} is not allowed: use a task field such as task_id")
    tasks.sort(key=lambda t: (getattr(t, name) is None, str(getattr(t, name))), reverse=query.order_by.startswith("-"))
    return TaskCollectionResponse(tasks=tasks, total_entries=len(tasks))


@api.get("/dags/<dag_id>/tasks/<task_id>")
@api.output(TaskResponse)
@api.doc(tags=["Task"], responses=ID_ERRORS)
def get_task(dag_id: str, task_id: str) -> TaskResponse:
    """One task of a DAG."""
    return task_response(service.dag_task(web_context().db, dag_id_arg(dag_id), task_id_arg(task_id)))


class DAGSourceResponse(BaseModel):
    """A DAG file's source text."""

    content: str | None = None
    dag_id: str
    version_number: int | None = None
    dag_display_name: str


class SourceQuery(Query):
    """``version_number``: dagflow keeps one version (the latest); any other number is a 404."""

    version_number: int | None = None


@api.get("/dagSources/<dag_id>")
@api.input(SourceQuery, location="query", arg_name="query")
@api.output(DAGSourceResponse)
@api.doc(tags=["DagSource"], responses=ID_ERRORS)
def get_dag_source(dag_id: str, query: SourceQuery) -> Any:
    """The source of a DAG's file as the DAG processor stored it; ``Accept: text/plain`` for the text alone."""
    source = service.dag_source(web_context().db, dag_id_arg(dag_id))
    if query.version_number not in (None, 1):
        raise service.DagSourceNotFound(f"DAG {dag_id!r} has no version {query.version_number} (dagflow keeps 1)")
    if request.accept_mimetypes.best_match(["application/json", "text/plain"]) == "text/plain":
        return Response(source.content, mimetype="text/plain")
    return DAGSourceResponse(content=source.content, dag_id=dag_id, version_number=1, dag_display_name=dag_id)
