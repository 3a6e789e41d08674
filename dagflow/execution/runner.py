"""``run_workload``: claim a try, run it in its own process group, and make sure it ends.

1. claim ``queued -> running`` (CAS on the previous try number); lost claim -> return.
2. load the DAG from the warm cache and find the task (a failure here fails the try).
3. fork: the child (``task_process_main``) runs the try (``task_process.run_try``) with
   its output in the try's log file and sends the outcome over a ``ResultChannel``. If
   the task has callbacks for that outcome, the parent records it (one transaction, its
   warm pool) and answers, then the child runs the callbacks; if not, the child exits at
   once and the parent records it after the exit (no copy-on-write faults from a live
   forked copy). Meanwhile the parent supervises (``supervised_try``): heartbeat, undead
   check, hard deadline.
4. after the child is gone (``supervised_try``): kill its process group, and if it died
   without recording, record the failure (or retry) with the reason, then run the
   failure callbacks.
``on_recorded`` (optional) hears the outcome as soon as the supervisor has committed it,
while a task process with callbacks still runs them: an executor can tell its
scheduler at once. That outcome is final for the try (nothing later changes the row),
so it is also what ``run_workload`` returns, without reading the row back.
``fork=False`` runs the same try body in the current process (heartbeats from a thread;
recorded directly; nothing can be killed).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dagflow.config import in_dag_folders
from dagflow.db import Database
from dagflow.exceptions import DagImportError, DagNotFound, DatabaseError, InvalidIdentifier
from dagflow.execution import claim as lease
from dagflow.execution import outcome
from dagflow.execution.channel import ResultChannel
from dagflow.execution.context import warm_imports
from dagflow.execution.dag_cache import DagCache
from dagflow.execution.log_masking import MaskedLogPipe
from dagflow.execution.logs import capture_in_process, log_path, write_log_line
from dagflow.execution.record import record_result
from dagflow.execution.reused_process import TaskProcess, TaskProcessSlot, reuse_enabled
from dagflow.execution.supervised_try import RECORD_RETRY_FIRST_S, RECORD_RETRY_MAX_S, Recorded, supervise
from dagflow.execution.supervisor import ChildExit, HeartbeatThread
from dagflow.execution.task_process import (
    TryAttempt,
    record_crash,
    register_known_secrets,
    run_try,
    stored_secrets_reader,
)
from dagflow.execution.task_process_main import task_log_level, task_process_main
from dagflow.execution.workload import TaskOutcome, TaskWorkload
from dagflow.models.base import utcnow
from dagflow.sdk.try_policy import TryPolicy
from dagflow.secrets.masker import SecretsMasker
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from dagflow.config import Settings

log = logging.getLogger(__name__)
TI = TaskInstanceState

_default_cache = DagCache()
#: This worker's idle reused task process (``core.max_tries_per_child``).
_task_processes = TaskProcessSlot()
#: Held from making a try's log pipe and result channel until the worker has closed the task
#: process's ends of them. A worker running several tries at once (LocalExecutor lanes) forks
#: from several threads: a task process forked by one lane inside another lane's window would
#: keep that lane's write end open (its log pump would never see the end of its output).
_SPAWNING = threading.Lock()


def run_workload(
    workload: TaskWorkload,
    settings: Settings,
    *,
    db: Database | None = None,
    fork: bool = True,
    dag_cache: DagCache | None = None,
    test_mode: bool = False,
    on_recorded: Callable[[TaskOutcome], None] | None = None,
    reuse_process: bool = False,
    task_slot: TaskProcessSlot | None = None,
) -> TaskOutcome:
    """Run one try of a task instance to its end; returns how it ended (from the DB).

    ``reuse_process``: a long-lived worker (LocalExecutor, Celery) may run the try in the
    task process it kept from its previous try of the same DAG file, and keep it for the
    next one (``core.max_tries_per_child``); it calls ``retire_task_process`` before it exits.
    ``task_slot``: where that idle task process is kept (default: one per worker process); a
    worker that supervises several tries at once gives each of its lanes its own.
    """
    cache = dag_cache or _default_cache
    if db is not None:
        return _run(workload, settings, db, fork, cache, test_mode, on_recorded, reuse_process, task_slot)
    own = Database(settings)
    try:
        return _run(workload, settings, own, fork, cache, test_mode, on_recorded, reuse_process, task_slot)
    finally:
        own.dispose()


def _run(
    workload: TaskWorkload,
    settings: Settings,
    db: Database,
    fork: bool,
    cache: DagCache,
    test_mode: bool,
    on_recorded: Callable[[TaskOutcome], None] | None,
    reuse_process: bool,
    task_slot: TaskProcessSlot | None = None,
) -> TaskOutcome:
    masker = SecretsMasker(settings.core.sensitive_var_conn_names)
    claimed = claim_with_retry(db, workload, read_also=stored_secrets_reader(masker, settings))
    if claimed is None:
        return _not_claimed(db, workload)
    attempt = _prepare_attempt(db, settings, claimed, cache, test_mode, masker)
    if attempt is None:
        return _final(db, workload)
    if fork and hasattr(os, "fork"):
        reuse = reuse_process and reuse_enabled(attempt)
        recorded = _run_forked(attempt, cache, on_recorded, reuse=reuse, slot=task_slot or _task_processes)
        if recorded is not None:
            return recorded
    else:
        _run_in_process(attempt)
    return _final(db, workload)


#: Seconds a claim keeps trying through transient DB errors (SQLite busy, a PostgreSQL restart).
CLAIM_RETRY_FOR_S = 15.0
#: The DB errors worth another claim attempt: nothing was written, the row is as it was.
TRANSIENT_DB_ERRORS = (DatabaseError, sa.exc.OperationalError, sa.exc.InterfaceError)


def claim_with_retry(
    db: Database,
    workload: TaskWorkload,
    *,
    retry_for_s: float | None = None,
    read_also: Callable[[sa.Connection], None] | None = None,
) -> lease.ClaimedTry | None:
    """``claim_try``, tried again with backoff for ``retry_for_s`` while the DB is busy or away.

    A claim is one short transaction, so a failed one wrote nothing and trying again is
    safe. Without this a worker that met a locked SQLite file or a restarting PostgreSQL
    dropped the workload, which then waited ``scheduler.task_queued_timeout`` to be re-sent.
    In the rare case where the commit went through but its answer was lost, the retry
    loses the compare-and-set: the try is never started, the reaper finds it without a
    heartbeat and retries it as an infra retry. The last error is raised after ``retry_for_s``
    (default ``CLAIM_RETRY_FOR_S``).
    """
    deadline = time.monotonic() + (CLAIM_RETRY_FOR_S if retry_for_s is None else retry_for_s)
    pause = RECORD_RETRY_FIRST_S
    while True:
        try:
            return lease.claim_try(db, workload, read_also=read_also)
        except TRANSIENT_DB_ERRORS as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s: claim failed (%s); trying again in %.1fs", workload.key, _first_line(exc), pause)
            time.sleep(pause)
            pause = min(pause * 2, RECORD_RETRY_MAX_S)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _prepare_attempt(
    db: Database,
    settings: Settings,
    claimed: lease.ClaimedTry,
    cache: DagCache,
    test_mode: bool,
    masker: SecretsMasker,
) -> TryAttempt | None:
    """The attempt to run, or None after recording why the DAG or task could not be loaded.

    Everything comes from the claimed row: the ids, and the DAG file, which must lie
    under the DAG folders. Nothing else a message says is trusted.
    """
    try:
        path = log_path(
            settings.logging.base_log_folder,
            dag_id=claimed.dag_id,
            run_id=claimed.run_id,
            task_id=claimed.task_id,
            map_index=claimed.map_index,
            try_number=claimed.try_number,
        )
    except InvalidIdentifier as exc:
        _fail_before_start(db, claimed, f"cannot write the try's log: {exc}")
        return None
    try:
        dag = cache.get_dag(_trusted_fileloc(settings, claimed), claimed.dag_id)
        task = dag.get_task(claimed.task_id)
    except Exception as exc:  # noqa: BLE001 - a broken DAG file fails the try
        write_log_line(path, "".join(traceback.format_exception(exc)))
        _fail_before_start(db, claimed, f"cannot load task: {outcome.describe(exc)}")
        return None
    timeout = getattr(task, "execution_timeout", None)
    _warm_template_env(dag)
    return TryAttempt(
        claimed=claimed,
        dag=dag,
        task=task,
        settings=settings,
        db=db,
        log_path=path,
        timeout_s=timeout.total_seconds() if timeout is not None else None,
        test_mode=test_mode,
        masker=masker,
    )


def _trusted_fileloc(settings: Settings, claimed: lease.ClaimedTry) -> str:
    """The DAG file of the claimed task instance's DAG, if it lies under the DAG folders."""
    fileloc = claimed.fileloc
    if not fileloc:
        raise DagNotFound(f"DAG {claimed.dag_id!r} has no DAG file recorded (not parsed yet?)")
    if not in_dag_folders(settings, fileloc):
        log.error("refused to load %s for %s: not under the DAG folders", fileloc, claimed.dag_id)
        raise DagImportError(fileloc, "refused: the file is not under the DAG folders (core.dags_folder)")
    return fileloc


def _fail_before_start(db: Database, claimed: lease.ClaimedTry, reason: str) -> None:
    result = outcome.failure(
        reason, try_number=claimed.try_number, max_tries=claimed.max_tries, policy=TryPolicy(), now=utcnow()
    )
    record_result(db, claimed, result)


def _warm_template_env(dag: Any) -> None:
    """Build the DAG's Jinja environment here, once, so forked task processes inherit it."""
    try:
        dag.get_template_env()
    except Exception:
        log.debug("could not build the template environment of %s", getattr(dag, "dag_id", "?"), exc_info=True)


def _run_in_process(attempt: TryAttempt) -> None:
    claimed = attempt.claimed

    def beat() -> bool:
        with attempt.db.background_use():  # the task may fork (multiprocessing) meanwhile
            return lease.heartbeat(attempt.db, claimed.ti_id, claimed.token)

    register_known_secrets(attempt, stored_read=True)
    beating = HeartbeatThread(beat, attempt.settings.scheduler.heartbeat_interval)
    with beating, capture_in_process(attempt.log_path, task_log_level(attempt), attempt.masker):
        try:
            run_try(attempt)
        except Exception as exc:
            log.exception("try crashed outside the task")
            record_crash(attempt, f"task runner error: {outcome.describe(exc)}")


def _run_forked(
    attempt: TryAttempt,
    cache: DagCache,
    on_recorded: Callable[[TaskOutcome], None] | None,
    *,
    reuse: bool,
    slot: TaskProcessSlot,
) -> TaskOutcome | None:
    """Run the try in a task process (a fresh fork, or the worker's idle reused one) and
    supervise it; the outcome if the supervisor recorded it."""
    register_known_secrets(attempt, stored_read=True)  # the task process inherits them
    with _SPAWNING:  # no other lane forks while this try's child ends of its pipes are open here
        output = MaskedLogPipe(attempt.log_path, attempt.masker)
        process = slot.take(attempt) if reuse else None
        if process is None or not slot.hand(process, attempt, output):
            process = _fork_task_process(attempt, cache, output, reuse)
        output.close_write_end()
    attempt = dataclasses.replace(attempt, task_pid=process.pid)  # the supervisor records the try with it
    recorded = Recorded(on_recorded)
    ended: ChildExit | None = None
    try:
        ended = supervise(attempt, process, recorded, output)
    finally:
        output.close()
        if reuse:
            slot.done(process, ended)
        else:
            process.channel.close()
    return recorded.outcome


def _fork_task_process(attempt: TryAttempt, cache: DagCache, output: MaskedLogPipe, reuse: bool) -> TaskProcess:
    warm_imports()
    sys.stdout.flush()
    sys.stderr.flush()
    channel = ResultChannel()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child, measured through its effects
        _own_std_streams()
        task_process_main(attempt, channel, output, cache if reuse else None)
    channel.use_as_supervisor()
    return TaskProcess(pid, channel, attempt.dag, reusable=reuse)


def _own_std_streams() -> None:  # pragma: no cover - runs in the child
    """In a task process just forked: ``sys.stdout``/``sys.stderr`` objects of its own on fds 1 and 2.

    A worker with several lanes forks from one thread while another may be writing to the
    worker's ``sys.stderr`` (a log line): the child inherits that object's buffer lock held,
    and its first flush or write through it would wait for ever. The inherited objects are
    never touched again here (their unwritten bytes are the worker's, which writes them).
    """
    inherited = {id(sys.stdout): 1, id(sys.stderr): 2}
    sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
    for handler in logging.getLogger().handlers:  # until the try's own logging replaces them
        if isinstance(handler, logging.StreamHandler) and id(handler.stream) in inherited:
            handler.stream = (
                sys.stdout if inherited[id(handler.stream)] == 1 else sys.stderr
            )  # no setStream: it flushes


def retire_task_process() -> None:
    """Stop this worker's idle reused task process, if any (call before the worker exits)."""
    _task_processes.retire()


def _not_claimed(db: Database, workload: TaskWorkload) -> TaskOutcome:
    status = lease.read_status(db, workload.ti_id)
    state = None if status is None else status.state
    reason = (
        "task instance not found"
        if status is None
        else (f"not claimed: state {state.value if state else None}, try {status.try_number}")
    )
    return TaskOutcome(workload.ti_id, workload.try_number, state, reason, claimed=False)


def _final(db: Database, workload: TaskWorkload) -> TaskOutcome:
    status = lease.read_status(db, workload.ti_id)
    if status is None:
        return TaskOutcome(workload.ti_id, workload.try_number, None, "task instance vanished")
    return TaskOutcome(workload.ti_id, workload.try_number, status.state, status.end_reason)
