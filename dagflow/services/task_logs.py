"""Reading a task instance's log wherever its try ran: this machine, or the worker that ran it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from dagflow.exceptions import TaskInstanceNotFound
from dagflow.execution.logs import NOT_RUN_BY_SCHEDULER, read_log
from dagflow.executors.registry import executor_class
from dagflow.models import TaskInstance, TaskInstanceHistory

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database


def task_log(
    settings: Settings,
    db: Database,
    *,
    dag_id: str,
    task_id: str,
    run_id: str,
    map_index: int = -1,
    try_number: int | None = None,
    offset: int = 0,
) -> str:
    """The log of one try (default: the latest) of a task instance from byte ``offset``; '' if it never ran.

    A log that is not on this machine is fetched from the host that ran the try
    (``execution.log_server``; CeleryExecutor deployments).
    """
    with db.transaction(readonly=True) as session:
        ti = session.execute(
            sa.select(TaskInstance.id, TaskInstance.try_number, TaskInstance.hostname).where(
                TaskInstance.dag_id == dag_id,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        ).one_or_none()
        if ti is None:
            raise TaskInstanceNotFound(
                f"no task instance {task_id!r} (map index {map_index}) in run {run_id!r} of {dag_id!r}"
            )
        if try_number is not None and not 1 <= try_number <= max(ti.try_number, 1):
            tried = f"it has had {ti.try_number} {'try' if ti.try_number == 1 else 'tries'}"
            raise TaskInstanceNotFound(f"task instance {task_id!r} of run {run_id!r} has no try {try_number} ({tried})")
        number = try_number or ti.try_number
        if number < 1:
            return ""
        ended = session.execute(
            sa.select(TaskInstanceHistory.hostname, TaskInstanceHistory.reason)
            .where(TaskInstanceHistory.ti_id == ti.id, TaskInstanceHistory.try_number == number)
            .order_by(TaskInstanceHistory.id.desc())
            .limit(1)
        ).first()
        if ended is not None and ended.hostname is None and ended.reason == NOT_RUN_BY_SCHEDULER:
            return NOT_RUN_BY_SCHEDULER + "\n" if offset == 0 else ""  # no log file: say why, once
        hostname = ti.hostname if number == ti.try_number else (ended.hostname if ended is not None else None)
    return read_log(
        settings,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        try_number=number,
        offset=offset,
        hostname=hostname if executor_class(settings.core.executor).logs_on_workers else None,
    )
