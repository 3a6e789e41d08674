"""Approving or rejecting an ``ApprovalOperator`` task instance that waits for a person.

The decision is written where the runtime backend reads it (``dagflow.execution.backend``):
an XCom with key ``__approval__`` on the task instance, value ``{"decision":
"approved"|"rejected", "comment": ..., "decided_at": ...}``. The sensor sees it on its
next poke; the runner keeps ``__approval*`` XComs across tries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import Conflict, TaskInstanceNotFound
from dagflow.execution.backend import APPROVAL_KEY
from dagflow.execution.xcom import read_xcoms, write_xcom
from dagflow.models import TaskInstance, utcnow
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.services.reports import iso
from dagflow.state import AWAITING_DECISION, TaskInstanceState

TI = TaskInstanceState

#: The operator class that waits for ``dagflow tasks approve``.
APPROVAL_OPERATOR = "ApprovalOperator"


class NotWaitingForApproval(Conflict, ValueError):
    """The task instance is not an approval task, is finished, or was decided already."""


@dataclass(frozen=True)
class ApprovalDecision:
    """A person's decision on an approval task instance."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    decision: str
    comment: str | None
    decided_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe document (the CLI's ``--output json``)."""
        return {**asdict(self), "decided_at": iso(self.decided_at)}


def decide(
    db: Database,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    approve: bool = True,
    comment: str | None = None,
    map_index: int = -1,
) -> ApprovalDecision:
    """Record a person's decision for a waiting approval task instance; returns it."""
    ensure_schema(db)
    decision = "approved" if approve else "rejected"
    with db.transaction() as session:
        ti = session.scalar(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        )
        if ti is None:
            raise TaskInstanceNotFound(f"no task instance {task_id!r} in run {run_id!r} of {dag_id!r}")
        _check_waiting(ti)
        previous = read_xcoms(
            session, dag_id=dag_id, run_id=run_id, task_id=task_id, key=APPROVAL_KEY, map_indexes=[map_index]
        ).get(map_index)
        if isinstance(previous, dict) and previous.get("decision") in ("approved", "rejected"):
            raise NotWaitingForApproval(f"{task_id!r} in run {run_id!r} was {previous['decision']} already")
        now = utcnow()
        value = {"decision": decision, "comment": comment, "decided_at": iso(now)}
        write_xcom(
            session, dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=APPROVAL_KEY, stored=value
        )
        events.record(
            session,
            "approve" if approve else "reject",
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=map_index,
            try_number=ti.try_number,
            extra={"comment": comment} if comment else None,
        )
    return ApprovalDecision(dag_id, run_id, task_id, map_index, decision, comment, now)


def _check_waiting(ti: TaskInstance) -> None:
    if ti.operator != APPROVAL_OPERATOR:
        raise NotWaitingForApproval(
            f"{ti.task_id!r} is a {ti.operator or 'task'}, not an {APPROVAL_OPERATOR}: nothing to approve"
        )
    if ti.state not in AWAITING_DECISION:
        raise NotWaitingForApproval(
            f"{ti.task_id!r} in run {ti.run_id!r} is {ti.state.value}, not waiting for approval"
        )
