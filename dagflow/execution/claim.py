"""The worker's lease on a try: claim it by compare-and-set, heartbeat it, read it back.

``claim_try`` moves ``queued -> running`` only if the row still has the previous try
number, so of two workers handed the same workload exactly one starts it (at-least-once
delivery, exactly-once state). The claim writes a fresh ``try_token``; every later
write of this try (heartbeat, outcome) is guarded by that token.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.execution.rendered_fields import RenderedFields, write_rendered_fields
from dagflow.execution.workload import TaskWorkload
from dagflow.models.base import utcnow
from dagflow.models.dag import DagModel
from dagflow.models.dagrun import DagRun
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.transitions import move_ti
from dagflow.models.xcom import TaskMap, XCom
from dagflow.state import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
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
    #: The DAG file, from the ``dag`` row (never from the message).
    fileloc: str | None = None
    #: A deferred try resuming: the method to call and its kwargs (with the trigger's ``event``).
    next_method: str | None = None
    next_kwargs: dict[str, Any] | None = None


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
    #: Who or what created the run (Airflow 3's ``DagRun.triggered_by``; ``test`` for ``dags test``).
    triggered_by: str | None = None


#: Names ``getfqdn`` gives when the host's name only maps to the loopback address.
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


@functools.lru_cache(maxsize=1)
def this_host() -> str:
    """This machine's name as recorded on a claimed try (looked up once per process).

    The fully qualified name, as Airflow records it; when that is only ``localhost`` (a
    host whose name maps to 127.0.0.1), the host name itself, which tells machines apart.
    """
    fqdn = socket.getfqdn()
    return socket.gethostname() or fqdn if fqdn in _LOOPBACK_NAMES else fqdn


#: The task instance columns a claim reads back (RETURNING where the database has it).
_CLAIMED_COLUMNS = (
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "max_tries",
    "first_poke_at",
    "next_method",
    "next_kwargs",
)


def claim_try(
    db: Database,
    workload: TaskWorkload,
    *,
    hostname: str | None = None,
    read_also: Callable[[Connection], None] | None = None,
) -> ClaimedTry | None:
    """Claim ``workload``'s try (``queued -> running``); None if another worker or a clear won.

    The reads come first: the run with its DAG file and previous success (one statement)
    and ``read_also``'s (the worker reads the stored secrets to mask there). On SQLite
    they run in a read transaction of their own, so the write lock, which every worker
    and the scheduler wait for, is held only for the writes; on PostgreSQL they open the
    claim's transaction, before the compare-and-set takes the row lock. Then the
    compare-and-set (reading the row back with RETURNING) and, unless this is the task
    instance's first try, the previous try's outputs removed. The run is read by the
    message's ids, which the compare-and-set then checks against the row.
    """
    if db.dialect == "sqlite":
        with db.transaction(readonly=True) as session:
            run = _read_run(session.connection(), workload, read_also)
        if run is None:
            return None
        with db.transaction() as session:
            return _claim(session, workload, run, hostname)
    with db.transaction() as session:
        run = _read_run(session.connection(), workload, read_also)
        return None if run is None else _claim(session, workload, run, hostname)


def _read_run(connection: Connection, workload: TaskWorkload, read_also: Callable[[Connection], None] | None) -> Any:
    """The run row (with ``fileloc`` and the previous success's interval), or None; then ``read_also``."""
    run = connection.execute(_READ_RUN, {"dag_id": workload.dag_id, "run_id": workload.run_id}).one_or_none()
    if run is not None and read_also is not None:
        read_also(connection)
    return run


def _claim(session: Session, workload: TaskWorkload, run: Any, hostname: str | None) -> ClaimedTry | None:
    """The compare-and-set and the removal of the previous try's outputs, in the caller's transaction."""
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
    row = move_ti(
        session,
        workload.ti_id,
        to=TI.RUNNING,
        expected=TI.QUEUED,
        values=values,
        guards={**_identity(workload), "try_number": workload.try_number - 1},
        returning=_CLAIMED_COLUMNS,
    )
    if row is None:
        return None
    if _may_have_outputs(row):
        connection = session.connection()
        ident = {"dag_id": row.dag_id, "run_id": row.run_id, "task_id": row.task_id, "map_index": row.map_index}
        connection.execute(_DELETE_XCOMS, ident)
        connection.execute(_DELETE_TASK_MAP, ident)
    return ClaimedTry(
        ti_id=workload.ti_id,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        try_number=row.try_number,
        max_tries=row.max_tries,
        token=token,
        hostname=host,
        start_date=now,
        first_poke_at=row.first_poke_at,
        run=run_info(run, (run.prev_start, run.prev_end)),
        fileloc=run.fileloc,
        next_method=row.next_method,
        next_kwargs=_json_object(row.next_kwargs),
    )


def _may_have_outputs(row: Any) -> bool:
    """Whether an earlier try of this task instance can have left XComs or a ``task_map`` row.

    The try number only goes up (a clear keeps it; the next try is one more), except
    when a reschedule or a deferral hands it back, which leaves ``first_poke_at`` or
    ``next_method`` set; so a first try with neither is the task instance's first start
    and nothing of an earlier try exists (a deleted run takes its XComs with it). A
    resumed try keeps what it pushed before it deferred.
    """
    if row.next_method is not None:
        return False
    return row.try_number > 1 or row.first_poke_at is not None


def _json_object(value: Any) -> dict[str, Any] | None:
    """``next_kwargs`` as read back (RETURNING may hand back the stored JSON text)."""
    if value is None:
        return None
    if isinstance(value, str):
        loaded = json.loads(value)
        return dict(loaded) if isinstance(loaded, dict) else None
    return dict(value)


def _identity(workload: TaskWorkload) -> dict[str, Any]:
    """The task instance key a message names: the claim moves the row only if it matches."""
    return {
        "dag_id": workload.dag_id,
        "run_id": workload.run_id,
        "task_id": workload.task_id,
        "map_index": workload.map_index,
    }


def _outputs_of_one_try(table: sa.Table) -> sa.Delete:
    return sa.delete(table).where(
        table.c.dag_id == sa.bindparam("dag_id"),
        table.c.run_id == sa.bindparam("run_id"),
        table.c.task_id == sa.bindparam("task_id"),
        table.c.map_index == sa.bindparam("map_index"),
    )


#: A new try starts without the XComs and task_map row of the previous one; XCom keys
#: starting with ``__approval`` (a person's decision) are kept.
_DELETE_XCOMS = _outputs_of_one_try(XCom.__table__).where(sa.not_(XCom.__table__.c.key.startswith("__approval")))
_DELETE_TASK_MAP = _outputs_of_one_try(TaskMap.__table__)
_RUN_TABLE = DagRun.__table__
_DAG_TABLE = DagModel.__table__
_PREVIOUS_SUCCESS = (
    sa.select(_RUN_TABLE.c.data_interval_start, _RUN_TABLE.c.data_interval_end)
    .where(
        _RUN_TABLE.c.dag_id == sa.bindparam("dag_id"),
        _RUN_TABLE.c.state == DagRunState.SUCCESS,
        _RUN_TABLE.c.logical_date < sa.bindparam("logical_date", type_=_RUN_TABLE.c.logical_date.type),
    )
    .order_by(_RUN_TABLE.c.logical_date.desc())
    .limit(1)
)


def _previous_success_of_this_run(column: str) -> sa.ScalarSelect[Any]:
    """``column`` of the latest successful run of the outer run's DAG before it (a scalar subquery)."""
    earlier = _RUN_TABLE.alias("earlier")
    return (
        sa.select(earlier.c[column])
        .where(
            earlier.c.dag_id == _RUN_TABLE.c.dag_id,
            earlier.c.state == DagRunState.SUCCESS,
            earlier.c.logical_date < _RUN_TABLE.c.logical_date,
        )
        .order_by(earlier.c.logical_date.desc())
        .limit(1)
        .scalar_subquery()
    )


#: The run, the DAG file its DAG was parsed from (the worker loads that file, no other) and
#: the data interval of the DAG's latest successful run before it, in one statement.
_READ_RUN = (
    sa.select(
        *(
            _RUN_TABLE.c[name]
            for name in (
                "id",
                "dag_id",
                "run_id",
                "logical_date",
                "data_interval_start",
                "data_interval_end",
                "run_type",
                "conf",
                "start_date",
                "external_trigger",
                "triggered_by",
            )
        ),
        _DAG_TABLE.c.fileloc,
        _previous_success_of_this_run("data_interval_start").label("prev_start"),
        _previous_success_of_this_run("data_interval_end").label("prev_end"),
    )
    .select_from(_RUN_TABLE.outerjoin(_DAG_TABLE, _DAG_TABLE.c.dag_id == _RUN_TABLE.c.dag_id))
    .where(_RUN_TABLE.c.dag_id == sa.bindparam("dag_id"), _RUN_TABLE.c.run_id == sa.bindparam("run_id"))
)


def previous_success_interval(
    session: Session | Connection, dag_id: str, logical_date: datetime
) -> tuple[datetime | None, datetime | None]:
    """Data interval of the latest successful run of ``dag_id`` before ``logical_date``."""
    row = session.execute(_PREVIOUS_SUCCESS, {"dag_id": dag_id, "logical_date": logical_date}).first()
    return (None, None) if row is None else (row[0], row[1])


def run_info(run: Any, prev_success: tuple[datetime | None, datetime | None] = (None, None)) -> RunInfo:
    """A plain copy of the DAG run fields a try needs (from a ``DagRun`` or a row of its columns)."""
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
        triggered_by=getattr(run, "triggered_by", None),
    )


def heartbeat(
    db: Database,
    ti_id: int,
    token: str,
    *,
    pid: int | None = None,
    rendered: tuple[int, RenderedFields] | None = None,
) -> bool:
    """Refresh ``last_heartbeat``; False if the row no longer runs this try (undead).

    ``rendered``: ``(try number, rendered fields)`` of the try, not written yet; written in
    the same transaction if the try is still ours, so a long try shows them while it runs.
    """
    now = utcnow()
    values: dict[str, Any] = {"last_heartbeat": now}
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
        ours = int(result.rowcount) == 1  # type: ignore[attr-defined]
        if ours and rendered is not None:
            try_number, fields = rendered
            write_rendered_fields(session.connection(), ti_id=ti_id, try_number=try_number, fields=fields, now=now)
        return ours


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
                TaskInstance.state,
                TaskInstance.try_number,
                TaskInstance.try_token,
                TaskInstance.end_reason,
            ).where(TaskInstance.id == ti_id)
        ).one_or_none()
    return None if row is None else TIStatus(row[0], row[1], row[2], row[3])
