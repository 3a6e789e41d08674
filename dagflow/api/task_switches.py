"""dagflow's own: disable a task without editing its DAG, for one run or every run to come (``tasks disable``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, Body, api, dag_id_arg, run_id_arg, task_id_arg
from dagflow.services import task_switches as service
from dagflow.web.context import web_context

_TASK = "/dags/<dag_id>/tasks/<task_id>"


class DisableBody(Body):
    """Which run (none: every run to come) and why (the note reads ``disabled: REASON``)."""

    dag_run_id: str | None = None
    reason: str | None = Field(default=None, max_length=service.REASON_LEN)


class EnableBody(Body):
    """Which switch to remove: a run's (``dag_run_id``) or the DAG-wide one."""

    dag_run_id: str | None = None


class TaskSwitchResponse(BaseModel):
    """A disabled task; ``dag_run_id`` null means every run to come."""

    dag_id: str
    task_id: str
    dag_run_id: str | None = None
    reason: str | None = None
    disabled_by: str | None = None
    created_at: datetime


class TaskSwitchCollection(BaseModel):
    """The disabled tasks of a DAG, oldest first."""

    task_switches: list[TaskSwitchResponse]
    total_entries: int


def _response(switch: service.TaskSwitchRecord) -> TaskSwitchResponse:
    return TaskSwitchResponse(
        dag_id=switch.dag_id,
        task_id=switch.task_id,
        dag_run_id=switch.run_id,
        reason=switch.reason,
        disabled_by=switch.disabled_by,
        created_at=switch.created_at,
    )


@api.get("/dags/<dag_id>/taskSwitches")
@api.output(TaskSwitchCollection)
@api.doc(tags=["Task switch"], responses=ID_ERRORS)
def get_task_switches(dag_id: str) -> TaskSwitchCollection:
    """The tasks of a DAG disabled without editing its code (``tasks disable``)."""
    switches = [_response(s) for s in service.list_switches(web_context().db, dag_id_arg(dag_id))]
    return TaskSwitchCollection(task_switches=switches, total_entries=len(switches))


@api.post(_TASK + "/disable")
@api.input(DisableBody, arg_name="body")
@api.output(TaskSwitchResponse)
@api.doc(tags=["Task switch"], responses=ID_ERRORS)
def disable_task(dag_id: str, task_id: str, body: DisableBody) -> TaskSwitchResponse:
    """Disable a task for one run or every run to come: its waiting task instances end skipped."""
    switch = service.disable_task(
        web_context().db,
        dag_id_arg(dag_id),
        task_id_arg(task_id),
        run_id=None if body.dag_run_id is None else run_id_arg(body.dag_run_id),
        reason=body.reason,
    )
    return _response(switch)


@api.post(_TASK + "/enable")
@api.input(EnableBody, arg_name="body")
@api.output(TaskSwitchResponse)
@api.doc(tags=["Task switch"], responses=ID_ERRORS)
def enable_task(dag_id: str, task_id: str, body: EnableBody) -> TaskSwitchResponse:
    """Undo a disable (the same ``dag_run_id``, or none); 404 if the task is not disabled."""
    switch = service.enable_task(
        web_context().db,
        dag_id_arg(dag_id),
        task_id_arg(task_id),
        run_id=None if body.dag_run_id is None else run_id_arg(body.dag_run_id),
    )
    return _response(switch)
