"""dagflow's own: approve or reject an ``ApprovalOperator`` task instance that waits for a person (``tasks approve``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from dagflow.api.common import ID_ERRORS, Body, api, dag_id_arg, run_id_arg, task_id_arg
from dagflow.services.approvals import ApprovalDecision, decide
from dagflow.web.context import web_context

_TI = "/dags/<dag_id>/dagRuns/<dag_run_id>/taskInstances/<task_id>"
_ERRORS = {**ID_ERRORS, 409: "Not an approval task, not waiting, or decided already"}


class ApprovalBody(Body):
    """Why (kept with the decision, shown in the task's log) and which map index."""

    comment: str | None = Field(default=None, max_length=1000)
    map_index: int = Field(default=-1, ge=-1)


class ApprovalResponse(BaseModel):
    """The decision recorded; the task sees it on its next poke."""

    dag_id: str
    dag_run_id: str
    task_id: str
    map_index: int
    decision: str
    comment: str | None = None
    decided_at: datetime


def _decide(dag_id: str, dag_run_id: str, task_id: str, body: ApprovalBody, *, approve: bool) -> ApprovalResponse:
    decision: ApprovalDecision = decide(
        web_context().db,
        dag_id=dag_id_arg(dag_id),
        run_id=run_id_arg(dag_run_id),
        task_id=task_id_arg(task_id),
        approve=approve,
        comment=body.comment,
        map_index=body.map_index,
    )
    return ApprovalResponse(
        dag_id=decision.dag_id,
        dag_run_id=decision.run_id,
        task_id=decision.task_id,
        map_index=decision.map_index,
        decision=decision.decision,
        comment=decision.comment,
        decided_at=decision.decided_at,
    )


@api.post(_TI + "/approve")
@api.input(ApprovalBody, arg_name="body")
@api.output(ApprovalResponse)
@api.doc(tags=["Approval"], responses=_ERRORS)
def approve_task_instance(dag_id: str, dag_run_id: str, task_id: str, body: ApprovalBody) -> ApprovalResponse:
    """Approve a waiting approval task: it succeeds on its next poke."""
    return _decide(dag_id, dag_run_id, task_id, body, approve=True)


@api.post(_TI + "/reject")
@api.input(ApprovalBody, arg_name="body")
@api.output(ApprovalResponse)
@api.doc(tags=["Approval"], responses=_ERRORS)
def reject_task_instance(dag_id: str, dag_run_id: str, task_id: str, body: ApprovalBody) -> ApprovalResponse:
    """Reject a waiting approval task: it fails on its next poke."""
    return _decide(dag_id, dag_run_id, task_id, body, approve=False)
