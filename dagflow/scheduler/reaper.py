"""The reaper: zombies, cleared tries whose worker is gone, and task instances stuck in queued.

``sweep`` runs on the scheduler's full passes. ONE query finds every overdue row:

- **zombie**: ``running`` and its ``last_heartbeat`` (or ``start_date``) is older than
  ``scheduler.heartbeat_timeout``. It moves to ``up_for_retry`` with the reason
  ``worker lost: no heartbeat for N s (host H, pid P)``. The first
  ``scheduler.max_infra_retries`` such losses of a task instance are *infra retries*:
  the try is retried at once and ``max_tries`` grows by one, so the user's ``retries``
  are not spent. After that the normal rule applies (``up_for_retry`` after the retry
  delay while tries are left, else ``failed``). The task's ``on_retry_callback`` /
  ``on_failure_callback`` then run in a short-lived process (``CallbackRunner``).
- **cleared while running**: ``restarting`` (a person cleared a running try) and no
  heartbeat for a few intervals, so its worker has stopped it: back to ``none``, so
  the planner schedules the next try.
- **stuck in queued**: ``queued`` for longer than ``scheduler.task_queued_timeout``
  (no worker claimed it: a lost broker message, nobody listening on its queue). The
  workload is re-sent (``requeue_count`` + 1, ``queued_at`` reset) up to
  ``scheduler.max_queued_resends`` times, then the task instance is ``failed`` with a
  reason; the try never started, so a retry would only queue it to the same place.
  Tries this scheduler's LocalExecutor still holds in memory are not stuck: they wait
  for a free local worker, and a dead local worker is reported as an event.

Every move is a compare-and-set guarded by what the query saw (the try's token and
stale heartbeat, or the ``queued_at`` it was queued at): a heartbeat, a claim or a
person that changes the row first wins, and the reaper leaves that row alone.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.execution.record import cleared_try_values
from dagflow.execution.try_end import Move, TryRecord, end_try
from dagflow.execution.workload import TaskWorkload, workload_for
from dagflow.models import Job, TaskInstance
from dagflow.models.transitions import set_ti_state_where
from dagflow.scheduler.dag_callbacks import CallbackRequest
from dagflow.scheduler.dag_store import CachedDag, SerializedDagStore
from dagflow.sdk.try_policy import TryPolicy
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from dagflow.config import Settings

log = logging.getLogger(__name__)
TI = TaskInstanceState


@dataclass(frozen=True)
class TaskCallbackRequest:
    """Run a task's ``callback`` (attribute name) for a try the scheduler ended."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    fileloc: str
    callback: str
    state: TaskInstanceState
    reason: str

    def run(self, settings: Settings) -> None:
        """In the callback process: see ``run_task_callback``."""
        run_task_callback(settings, self)


@dataclass
class Sweep:
    """What one sweep did, and what the scheduler must do after the commit."""

    zombies: int = 0
    restarted: int = 0
    failed_in_queue: int = 0
    orphans_reset: int = 0
    resend: list[TaskWorkload] = field(default_factory=list)
    callbacks: list[CallbackRequest] = field(default_factory=list)
    next_try_at: datetime | None = None

    @property
    def changed(self) -> int:
        """Task instances this sweep changed."""
        return self.zombies + self.restarted + self.failed_in_queue + self.orphans_reset + len(self.resend)


def sweep(
    session: Session,
    store: SerializedDagStore,
    settings: Settings,
    *,
    now: datetime,
    held: Collection[tuple[int, int]] = frozenset(),
    job_id: int | None = None,
) -> Sweep:
    """Find overdue task instances in one query and deal with each (module docstring)."""
    result = Sweep()
    result.orphans_reset = reset_orphaned(session, settings, now=now, job_id=job_id)
    rows = _overdue(session, settings, now)
    if not rows:
        return result
    dags = store.get_many(session, {ti.dag_id for ti in rows})
    for ti in rows:
        entry = dags.get(ti.dag_id)
        if ti.state is TI.RUNNING:
            _reap_zombie(session, ti, entry, settings, now, result)
        elif ti.state is TI.RESTARTING:
            _restart_cleared(session, ti, settings, now, result)
        elif (ti.id, ti.try_number + 1) not in held:
            _handle_stuck(session, ti, entry, settings, now, job_id, result)
    return result


# --- queued by a scheduler that is gone ----------------------------------------------------
def reset_orphaned(session: Session, settings: Settings, *, now: datetime, job_id: int | None) -> int:
    """``queued`` task instances whose scheduler job is dead go back to ``scheduled``.

    A LocalExecutor scheduler that died took its in-memory queue with it, and a
    scheduler killed between its commit and its broker send never sent the message: no
    worker will claim those tries. Rather than wait ``task_queued_timeout``, any live
    scheduler resets them at once (Airflow's "adopt or reset orphaned tasks") and they
    are queued again. A message that does arrive later finds the try claimed or
    re-queued and starts nothing twice (the claim is a compare-and-set).
    """
    from dagflow.scheduler.job import SCHEDULER_JOB, fresh_after, job_is_alive

    queued_by = set(
        session.scalars(
            sa.select(TaskInstance.queued_by_job_id)
            .distinct()
            .where(TaskInstance.state == TI.QUEUED, TaskInstance.queued_by_job_id.is_not(None))
        )
    )
    queued_by.discard(job_id)
    if not queued_by:
        return 0
    fresh = fresh_after(settings.scheduler.heartbeat_interval)
    jobs = session.scalars(sa.select(Job).where(Job.id.in_(queued_by), Job.job_type == SCHEDULER_JOB))
    alive = {job.id for job in jobs if job_is_alive(job, now=now, fresh=fresh)}
    dead = sorted(job for job in queued_by - alive if job is not None)
    if not dead:
        return 0
    reset = set_ti_state_where(
        session,
        to=TI.SCHEDULED,
        expected=[TI.QUEUED],
        where=TaskInstance.queued_by_job_id.in_(dead),
        values={"queued_by_job_id": None, "queued_at": None},
    )
    if reset:
        log.warning(
            "reset %d task instance(s) queued by scheduler job(s) %s that are gone; they are queued again",
            reset,
            ", ".join(map(str, dead)),
        )
    return reset


def _heartbeat_at() -> sa.ColumnElement[Any]:
    """When the try last showed signs of life."""
    return sa.func.coalesce(TaskInstance.last_heartbeat, TaskInstance.start_date, TaskInstance.updated_at)


def _queued_since() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(TaskInstance.queued_at, TaskInstance.updated_at)


def _restart_grace(settings: Settings) -> timedelta:
    """How long after its last heartbeat a cleared try's worker has surely stopped it."""
    interval = settings.scheduler.heartbeat_interval
    return timedelta(seconds=3 * interval + settings.core.killed_task_cleanup_time)


def _overdue(session: Session, settings: Settings, now: datetime) -> list[TaskInstance]:
    """Zombies, cleared tries past their grace, and stuck queued rows (one query)."""
    sched = settings.scheduler
    beat = _heartbeat_at()
    query = (
        sa.select(TaskInstance)
        .where(
            sa.or_(
                sa.and_(TaskInstance.state == TI.RUNNING, beat < now - timedelta(seconds=sched.heartbeat_timeout)),
                sa.and_(TaskInstance.state == TI.RESTARTING, beat < now - _restart_grace(settings)),
                sa.and_(
                    TaskInstance.state == TI.QUEUED,
                    _queued_since() < now - timedelta(seconds=sched.task_queued_timeout),
                ),
            )
        )
        .order_by(TaskInstance.id)
    )
    return list(session.scalars(query))


# --- zombies ---------------------------------------------------------------------------
def _reap_zombie(
    session: Session, ti: TaskInstance, entry: CachedDag | None, settings: Settings, now: datetime, result: Sweep
) -> None:
    last = ti.last_heartbeat or ti.start_date or ti.updated_at
    silent = int((now - last).total_seconds())
    reason = f"worker lost: no heartbeat for {silent}s (host {ti.hostname or '?'}, pid {ti.pid or '?'})"
    task = entry.dag.tasks.get(ti.task_id) if entry is not None else None
    max_infra = settings.scheduler.max_infra_retries
    step = TryPolicy.of(task).after_loss(
        try_number=ti.try_number, max_tries=ti.max_tries, infra_tries=ti.infra_tries, max_infra_tries=max_infra, now=now
    )
    values: dict[str, Any] = {"end_date": now, "duration": _duration(ti, now), "next_try_at": step.next_try_at}
    if step.infra_retry:
        reason += f"; infra retry {ti.infra_tries + 1} of {max_infra} (does not use a retry)"
        values.update(max_tries=TaskInstance.max_tries + 1, infra_tries=TaskInstance.infra_tries + 1)
    values["end_reason"] = reason
    silent_since = _heartbeat_at() < now - timedelta(seconds=settings.scheduler.heartbeat_timeout)
    move = Move(step.state, TI.RUNNING, values, {"try_number": ti.try_number}, [_token_is(ti.try_token), silent_since])
    if end_try(session, ti.id, TryRecord(step.state, reason), move) is None:
        return  # a heartbeat, the worker's own outcome or a person got there first
    log.warning(
        "zombie %s.%s[%s] %s try %s: %s -> %s",
        ti.dag_id,
        ti.task_id,
        ti.map_index,
        ti.run_id,
        ti.try_number,
        reason,
        step.state.value,
    )
    result.zombies += 1
    if step.next_try_at is not None:
        when = step.next_try_at
        result.next_try_at = when if result.next_try_at is None else min(result.next_try_at, when)
    _add_callback(result, ti, entry, step.state, reason, ti.try_number)


def _token_is(token: str | None) -> sa.ColumnElement[bool]:
    return TaskInstance.try_token.is_(None) if token is None else TaskInstance.try_token == token


def _duration(ti: TaskInstance, now: datetime) -> float | None:
    return None if ti.start_date is None else (now - ti.start_date).total_seconds()


def _add_callback(
    result: Sweep, ti: TaskInstance, entry: CachedDag | None, state: TaskInstanceState, reason: str, try_number: int
) -> None:
    name = "on_retry_callback" if state is TI.UP_FOR_RETRY else "on_failure_callback"
    task = entry.dag.tasks.get(ti.task_id) if entry is not None else None
    if entry is None or task is None or not task.has_callback(name):
        return
    result.callbacks.append(
        TaskCallbackRequest(
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=try_number,
            fileloc=entry.fileloc or entry.dag.fileloc or "",
            callback=name,
            state=state,
            reason=reason,
        )
    )


# --- cleared while running ---------------------------------------------------------------
def _restart_cleared(session: Session, ti: TaskInstance, settings: Settings, now: datetime, result: Sweep) -> None:
    """A try cleared while it ran whose worker is gone: ``restarting -> none``, its history kept."""
    values = cleared_try_values(ti.try_number, end_date=ti.end_date or now)
    quiet = _heartbeat_at() < now - _restart_grace(settings)
    move = Move(TI.NONE, TI.RESTARTING, values, {"try_number": ti.try_number}, [_token_is(ti.try_token), quiet])
    record = TryRecord(TI.RESTARTING, values["end_reason"], if_missing=True)  # unless its worker wrote it
    if end_try(session, ti.id, record, move) is not None:
        result.restarted += 1


# --- stuck in queued ---------------------------------------------------------------------
def _handle_stuck(
    session: Session,
    ti: TaskInstance,
    entry: CachedDag | None,
    settings: Settings,
    now: datetime,
    job_id: int | None,
    result: Sweep,
) -> None:
    sched = settings.scheduler
    task = entry.dag.tasks.get(ti.task_id) if entry is not None else None
    guard = [
        TaskInstance.id == ti.id,
        TaskInstance.state == TI.QUEUED,
        TaskInstance.try_number == ti.try_number,
        TaskInstance.queued_at == ti.queued_at,
    ]
    if ti.requeue_count < sched.max_queued_resends and entry is not None and task is not None:
        moved = session.execute(
            sa.update(TaskInstance)
            .where(*guard)
            .values(
                queued_at=now, requeue_count=TaskInstance.requeue_count + 1, queued_by_job_id=job_id, updated_at=now
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if moved == 1:
            log.warning(
                "%s.%s[%s] %s stuck in queued: re-sent (%s of %s)",
                ti.dag_id,
                ti.task_id,
                ti.map_index,
                ti.run_id,
                ti.requeue_count + 1,
                sched.max_queued_resends,
            )
            result.resend.append(workload_for(ti, ti_id=ti.id))
        return
    waited = int((now - (ti.queued_at or ti.updated_at)).total_seconds())
    reason = (
        f"stuck in queued for {waited}s after {ti.requeue_count} re-sends (queue {ti.queue}: is a worker listening?)"
    )
    if task is None:
        reason += "; the task is no longer in its DAG"
    values = {"end_date": now, "end_reason": reason, "next_try_at": None}
    move = Move(TI.FAILED, TI.QUEUED, values, where=guard[2:])
    record = TryRecord(TI.FAILED, reason, try_number=ti.try_number + 1, started=False)  # the try never started
    if end_try(session, ti.id, record, move) is None:
        return
    log.warning("%s.%s[%s] %s: %s -> failed", ti.dag_id, ti.task_id, ti.map_index, ti.run_id, reason)
    result.failed_in_queue += 1
    _add_callback(result, ti, entry, TI.FAILED, reason, ti.try_number + 1)


# --- the callback process -------------------------------------------------------------
def run_task_callback(settings: Settings, request: TaskCallbackRequest) -> None:
    """In a short-lived process: import the DAG, rebuild the try's context, run the callbacks.

    The same context a crashed try's callbacks get (``exception`` is the reason).
    """
    from dagflow.db import Database
    from dagflow.execution.dag_cache import DagCache
    from dagflow.execution.outcome import TryResult
    from dagflow.execution.task_process import run_crash_callbacks

    logging.basicConfig(level=settings.logging.level.upper())
    db = Database(settings)
    try:
        dag = DagCache().get_dag(request.fileloc, request.dag_id)
        attempt = _attempt(db, settings, dag, request)
        if attempt is not None:
            run_crash_callbacks(attempt, TryResult(request.state, request.reason))
    except Exception:
        log.exception("%s of %s.%s could not run", request.callback, request.dag_id, request.task_id)
    finally:
        db.dispose()


def _attempt(db: Any, settings: Settings, dag: Any, request: TaskCallbackRequest) -> Any:
    """The ``TryAttempt`` of the ended try, rebuilt from its row (None if it is gone)."""
    from dagflow.execution.claim import ClaimedTry, run_info
    from dagflow.execution.logs import log_path
    from dagflow.execution.task_process import TryAttempt
    from dagflow.models import DagRun

    with db.transaction(readonly=True) as session:
        ti = session.scalars(
            sa.select(TaskInstance).where(
                TaskInstance.dag_id == request.dag_id,
                TaskInstance.run_id == request.run_id,
                TaskInstance.task_id == request.task_id,
                TaskInstance.map_index == request.map_index,
            )
        ).one_or_none()
        run = session.scalars(
            sa.select(DagRun).where(DagRun.dag_id == request.dag_id, DagRun.run_id == request.run_id)
        ).one_or_none()
        if ti is None or run is None:
            return None
        claimed = ClaimedTry(
            ti_id=ti.id,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
            map_index=ti.map_index,
            try_number=request.try_number,
            max_tries=ti.max_tries,
            token=ti.try_token or "",
            hostname=ti.hostname or "",
            start_date=ti.start_date or ti.end_date or ti.updated_at,
            first_poke_at=ti.first_poke_at,
            run=run_info(run),
        )
    path = log_path(
        settings.logging.base_log_folder,
        dag_id=request.dag_id,
        run_id=request.run_id,
        task_id=request.task_id,
        map_index=request.map_index,
        try_number=request.try_number,
    )
    return TryAttempt(
        claimed=claimed,
        dag=dag,
        task=dag.get_task(request.task_id),
        settings=settings,
        db=db,
        log_path=path,
        timeout_s=None,
    )
