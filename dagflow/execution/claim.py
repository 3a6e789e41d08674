"""The worker's lease on a try: claim it by compare-and-set, heartbeat it, read it back.

``claim_try`` moves ``queued -> running`` only if the row still has the previous try
number, so of two workers handed the same workload exactly one starts it (at-least-once
delivery, exactly-once state). The claim writes a fresh ``try_token``; every later
write of this try (heartbeat, outcome) is guarded by that token.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.execution.workload import TaskWorkload
from dagflow.models.base import utcnow
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.models.xcom import TaskMap, XCom
from dagflow.state import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dagflow.db import Database

TI = TaskInstanceState


@dataclass(frozen=True)
class ClaimedTry:
    """The try this worker owns: the task instance as claimed, and the run it belongs to."""

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    token: str
    hostname: str
    start_date: datetime
    first_poke_at: datetime | None
    run: RunInfo


@dataclass(frozen=True)
class RunInfo:
    """The DAG run fields the task context needs."""

    id: int
    dag_id: str
    run_id: str
    logical_date: datetime
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_type: str
    conf: dict[str, Any]
    start_date: datetime | None
    external_trigger: bool
    #: Data interval of the latest successful run before this one (``prev_*_success``).
    prev_success_interval: tuple[datetime | None, datetime | None] = (None, None)


@functools.lru_cache(maxsize=1)
def this_host() -> str:
    """This machine's name as recorded on a claimed try (looked up once per process)."""
    return socket.getfqdn()


def claim_try(db: Database, workload: TaskWorkload, *, hostname: str | None = None) -> ClaimedTry | None:
    """Claim ``workload``'s try (``queued -> running``); None if another worker or a clear won."""
    now = utcnow()
    token = uuid.uuid4().hex
    host = hostname or this_host()
    values = {
        "try_number": workload.try_number,
        "hostname": host,
        "pid": os.getpid(),
        "start_date": now,
        "end_date": None,
        "duration": None,
        "try_token": token,
        "last_heartbeat": now,
        "end_reason": None,
        "next_try_at": None,
    }
    with db.transaction() as session:
        moved = set_ti_state(
            session,
            [workload.ti_id],
            to=TI.RUNNING,
            expected=[TI.QUEUED],
            values=values,
            extra_where=TaskInstance.try_number == workload.try_number - 1,
        )
        if moved != 1:
            return None
        ti = session.get(TaskInstance, workload.ti_id, populate_existing=True)
        assert ti is not None
        _clear_previous_outputs(session, ti)
        return _claimed(session, ti, token)


def _claimed(session: Session, ti: TaskInstance, token: str) -> ClaimedTry:
    run = session.scalars(
        sa.select(DagRun).where(DagRun.dag_id == ti.dag_id, DagRun.run_id == ti.run_id)
    ).one()
    assert ti.start_date is not None and ti.hostname is not None
    return ClaimedTry(
        ti_id=ti.id,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        token=token,
        hostname=ti.hostname,
        start_date=ti.start_date,
        first_poke_at=ti.first_poke_at,
        run=run_info(run, previous_success_interval(session, run.dag_id, run.logical_date)),
    )


def previous_success_interval(session: Session, dag_id: str, logical_date: datetime
                              ) -> tuple[datetime | None, datetime | None]:
    """Data interval of the latest successful run of ``dag_id`` before ``logical_date``."""
    row = session.execute(
        sa.select(DagRun.data_interval_start, DagRun.data_interval_end)
        .where(DagRun.dag_id == dag_id, DagRun.state == DagRunState.SUCCESS,
               DagRun.logical_date < logical_date)
        .order_by(DagRun.logical_date.desc()).limit(1)
    ).first()
    return (None, None) if row is None else (row[0], row[1])


def run_info(run: DagRun, prev_success: tuple[datetime | None, datetime | None] = (None, None)
             ) -> RunInfo:
    """A plain copy of the DAG run fields a try needs."""
    return RunInfo(
        id=run.id,
        dag_id=run.dag_id,
        run_id=run.run_id,
        logical_date=run.logical_date,
        data_interval_start=run.data_interval_start,
        data_interval_end=run.data_interval_end,
        run_type=run.run_type,
        conf=dict(run.conf or {}),
        start_date=run.start_date,
        external_trigger=run.external_trigger,
        prev_success_interval=prev_success,
    )


def _clear_previous_outputs(session: Session, ti: TaskInstance) -> None:
    """A new try starts without the XComs and task_map row of the previous one.

    XCom keys starting with ``__approval`` (a person's decision) are kept.
    """
    for model in (XCom, TaskMap):
        stmt = sa.delete(model).where(
            model.dag_id == ti.dag_id,
            model.run_id == ti.run_id,
            model.task_id == ti.task_id,
            model.map_index == ti.map_index,
        )
        if model is XCom:
            stmt = stmt.where(sa.not_(XCom.key.startswith("__approval")))
        session.execute(stmt)


def heartbeat(db: Database, ti_id: int, token: str, *, pid: int | None = None) -> bool:
    """Refresh ``last_heartbeat``; False if the row no longer runs this try (undead)."""
    values: dict[str, Any] = {"last_heartbeat": utcnow()}
    if pid is not None:
        values["pid"] = pid
    with db.transaction() as session:
        result = session.execute(
            sa.update(TaskInstance)
            .where(
                TaskInstance.id == ti_id,
                TaskInstance.try_token == token,
                TaskInstance.state == TI.RUNNING,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class TIStatus:
    """The fields of a task instance row that say how a try ended."""

    state: TaskInstanceState
    try_number: int
    try_token: str | None
    end_reason: str | None


def read_status(db: Database, ti_id: int) -> TIStatus | None:
    """The current state, try number, token and end reason of a task instance."""
    with db.transaction(readonly=True) as session:
        row = session.execute(
            sa.select(
                TaskInstance.state, TaskInstance.try_number, TaskInstance.try_token,
                TaskInstance.end_reason,
            ).where(TaskInstance.id == ti_id)
        ).one_or_none()
    return None if row is None else TIStatus(row[0], row[1], row[2], row[3])
