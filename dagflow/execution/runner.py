"""``run_workload``: claim a try, run it in its own process group, and make sure it ends.

1. claim ``queued -> running`` (CAS on the previous try number); lost claim -> return.
2. load the DAG from the warm cache and find the task (a failure here fails the try).
3. fork: the child runs the try (``task_process.run_try``) with its output in the try's
   log file and sends the outcome over a ``ResultChannel``. If the task has callbacks
   for that outcome, the parent records it (one transaction, its warm pool) and
   answers, then the child runs the callbacks; if not, the child exits at once and the
   parent records it after the exit (no copy-on-write faults from a live forked copy).
   Meanwhile the parent supervises: heartbeat, undead check, hard deadline.
4. after the child is gone: kill its process group, and if it died without recording,
   record the failure (or retry) with the reason, then run the failure callbacks.
``on_recorded`` (optional) hears the outcome as soon as the supervisor has committed it,
while a task process with callbacks still runs them: an executor can tell its
scheduler at once. That outcome is final for the try (nothing later changes the row),
so it is also what ``run_workload`` returns, without reading the row back.
``fork=False`` runs the same try body in the current process (heartbeats from a thread;
recorded directly; nothing can be killed).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import select
import signal
import sys
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
from dagflow.execution.channel import Idle, Received, ResultChannel
from dagflow.execution.context import warm_imports
from dagflow.execution.dag_cache import DagCache
from dagflow.execution.log_masking import MaskedLogPipe
from dagflow.execution.logs import (
    LOG_FORMAT,
    capture_in_process,
    configure_child_logging,
    log_path,
    resolve_level,
)
from dagflow.execution.process_tree import kill_own_descendants
from dagflow.execution.record import TryOutputs, record_result, record_stopped
from dagflow.execution.reused_process import (
    ReuseGuard,
    TaskProcess,
    TaskProcessSlot,
    next_attempt,
    reuse_enabled,
)
from dagflow.execution.supervisor import (
    CLOSED,
    IDLE,
    RECORDED,
    ChildExit,
    HeartbeatThread,
    Supervisor,
    watch_parent,
)
from dagflow.execution.task_process import (
    TaskTerminated,
    TryAttempt,
    format_seconds,
    register_known_secrets,
    result_line,
    run_crash_callbacks,
    run_try,
)
from dagflow.execution.workload import TaskOutcome, TaskWorkload
from dagflow.models.base import utcnow
from dagflow.private_files import append_private_text
from dagflow.sdk.try_policy import TryPolicy
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from dagflow.config import Settings

log = logging.getLogger(__name__)
TI = TaskInstanceState

#: Seconds past ``execution_timeout`` before the supervisor SIGKILLs the task's tree.
HARD_TIMEOUT_GRACE_S = 3.0
#: First and longest pause between attempts to record an outcome while the DB is away.
RECORD_RETRY_FIRST_S = 0.2
RECORD_RETRY_MAX_S = 5.0

_default_cache = DagCache()
#: This worker's idle reused task process (``core.max_tries_per_child``).
_task_processes = TaskProcessSlot()


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
) -> TaskOutcome:
    """Run one try of a task instance to its end; returns how it ended (from the DB).

    ``reuse_process``: a long-lived worker (LocalExecutor, Celery) may run the try in the
    task process it kept from its previous try of the same DAG file, and keep it for the
    next one (``core.max_tries_per_child``); it calls ``retire_task_process`` before it exits.
    """
    cache = dag_cache or _default_cache
    if db is not None:
        return _run(workload, settings, db, fork, cache, test_mode, on_recorded, reuse_process)
    own = Database(settings)
    try:
        return _run(workload, settings, own, fork, cache, test_mode, on_recorded, reuse_process)
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
) -> TaskOutcome:
    claimed = claim_with_retry(db, workload)
    if claimed is None:
        return _not_claimed(db, workload)
    attempt = _prepare_attempt(db, settings, claimed, cache, test_mode)
    if attempt is None:
        return _final(db, workload)
    if fork and hasattr(os, "fork"):
        recorded = _run_forked(attempt, cache, on_recorded, reuse=reuse_process and reuse_enabled(attempt))
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
    db: Database, workload: TaskWorkload, *, retry_for_s: float | None = None
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
            return lease.claim_try(db, workload)
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
    db: Database, settings: Settings, claimed: lease.ClaimedTry, cache: DagCache, test_mode: bool
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
        _write_log_line(path, "".join(traceback.format_exception(exc)))
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


def _write_log_line(path: Any, text: str) -> None:
    """Append to the try's log (0600); a log that cannot be written is reported here, never raised."""
    try:
        append_private_text(path, text)
    except OSError as exc:
        log.warning("cannot write the try's log %s: %s", path, exc.strerror or exc)


def _level(attempt: TryAttempt) -> int:
    return resolve_level(getattr(attempt.task, "log_level", None), attempt.settings.logging.level)


def _run_in_process(attempt: TryAttempt) -> None:
    claimed = attempt.claimed

    def beat() -> bool:
        with attempt.db.background_use():  # the task may fork (multiprocessing) meanwhile
            return lease.heartbeat(attempt.db, claimed.ti_id, claimed.token)

    register_known_secrets(attempt)
    beating = HeartbeatThread(beat, attempt.settings.scheduler.heartbeat_interval)
    with beating, capture_in_process(attempt.log_path, _level(attempt), attempt.masker):
        try:
            run_try(attempt)
        except Exception as exc:
            log.exception("try crashed outside the task")
            _record_crash(attempt, f"task runner error: {outcome.describe(exc)}")


def _run_forked(
    attempt: TryAttempt, cache: DagCache, on_recorded: Callable[[TaskOutcome], None] | None, *, reuse: bool
) -> TaskOutcome | None:
    """Run the try in a task process (a fresh fork, or the worker's idle reused one) and
    supervise it; the outcome if the supervisor recorded it."""
    register_known_secrets(attempt)  # here, on the warm pool; the task process inherits them
    output = MaskedLogPipe(attempt.log_path, attempt.masker)
    process = _task_processes.take(attempt) if reuse else None
    if process is None or not _task_processes.hand(process, attempt, output):
        process = _fork_task_process(attempt, cache, output, reuse)
    attempt = dataclasses.replace(attempt, task_pid=process.pid)  # the supervisor records the try with it
    output.close_write_end()
    recorded = _Recorded(on_recorded)
    ended: ChildExit | None = None
    try:
        ended = _supervise(attempt, process, recorded, output)
    finally:
        output.close()
        if reuse:
            _task_processes.done(process, ended)
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
        _child_main(attempt, channel, output, cache if reuse else None)
    channel.use_as_supervisor()
    return TaskProcess(pid, channel, attempt.dag, reusable=reuse)


def retire_task_process() -> None:
    """Stop this worker's idle reused task process, if any (call before the worker exits)."""
    _task_processes.retire()


class _Recorded:
    """The outcome the supervisor committed for this try (and who wants to hear it)."""

    def __init__(self, listener: Callable[[TaskOutcome], None] | None) -> None:
        self.listener = listener
        self.outcome: TaskOutcome | None = None

    def set(self, claimed: lease.ClaimedTry, result: outcome.TryResult) -> None:
        self.outcome = TaskOutcome(claimed.ti_id, claimed.try_number, result.state, result.reason)
        if self.listener is not None:
            try:
                self.listener(self.outcome)
            except Exception:
                log.exception("on_recorded listener failed")


def _child_main(attempt: TryAttempt, channel: ResultChannel, output: MaskedLogPipe, cache: DagCache | None) -> None:
    """The task process: own process group, own (masked) log per try, run the try (and, when
    reused, the next ones it is handed), exit without cleanup."""
    code = 1
    try:
        os.setpgid(0, 0)
        channel.use_as_task()  # the Database dropped its pooled connections at the fork (db.py)
        watch_parent(os.getppid())
        guard = None
        if cache is not None:
            core = attempt.settings.core
            guard = ReuseGuard(core.max_tries_per_child, core.max_memory_per_child_mb)
        while True:
            reusable = _one_try(attempt, channel, output, guard)
            if guard is None or cache is None or not reusable:
                break
            channel.send_idle()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # idle: a SIGTERM simply ends the process
            following = next_attempt(channel, attempt, cache)
            if following is None:
                break
            attempt, output = following
        code = 0
    except BaseException:  # noqa: BLE001 - the child must always reach os._exit
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _one_try(attempt: TryAttempt, channel: ResultChannel, output: MaskedLogPipe, guard: ReuseGuard | None) -> bool:
    """One try in the task process, its output in the try's log; raises if it crashed.

    True if the process may run another try (``guard`` restored what the try changed and
    found nothing that would leak into the next one).
    """
    output.attach()
    result: outcome.TryResult | None = None
    if guard is not None:
        guard.before_try()
    try:
        configure_child_logging(_level(attempt))
        _install_child_signals()
        result = run_try(attempt, record=functools.partial(_record_through, channel))
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        _kill_descendants()
        reusable = guard is not None and guard.after_try(result) is None
        sys.stdout.flush()
        sys.stderr.flush()
        output.detach()
    return reusable and output.release()


def _record_through(
    channel: ResultChannel, result: outcome.TryResult, outputs: TryOutputs | None, wait: bool
) -> bool | None:
    """In the task process: have the supervisor record the outcome; its answer, if ``wait``.

    Without ``wait`` (no callbacks to run) the process exits (or, reused, says it is
    idle) and the supervisor records the outcome then; None says so.
    """
    channel.send_result(result, outputs, wait=wait)
    if not wait:
        return None
    answer = channel.wait_answer()
    if answer is None:
        raise RuntimeError("the supervisor did not confirm the outcome")
    return answer


def _install_child_signals() -> None:
    def _terminate(signum: int, frame: Any) -> None:
        raise TaskTerminated(f"received signal {signum}")

    # Handlers inherited from the worker (Celery, an executor) must not act in a task.
    for name in ("SIGINT", "SIGCHLD", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPIPE"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN if name == "SIGPIPE" else signal.SIG_DFL)
    signal.signal(signal.SIGTERM, _terminate)


def _kill_descendants() -> None:
    try:
        kill_own_descendants()
    except Exception:  # noqa: BLE001, S110 - best effort; the supervisor kills the group too
        pass


def _supervise(attempt: TryAttempt, process: TaskProcess, recorded: _Recorded, output: MaskedLogPipe) -> ChildExit:
    claimed = attempt.claimed
    pid, channel = process.pid, process.channel
    handed: list[Received] = []
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it (or exited)
    settings = attempt.settings
    hard = attempt.timeout_s + HARD_TIMEOUT_GRACE_S if attempt.timeout_s else None
    first = [True]

    def beat() -> bool:  # the first heartbeat also records the task process's pid
        ours = lease.heartbeat(attempt.db, claimed.ti_id, claimed.token, pid=pid if first[0] else None)
        first[0] = False
        return ours

    supervisor = Supervisor(
        pid,
        heartbeat=beat,
        heartbeat_interval_s=settings.scheduler.heartbeat_interval,
        hard_timeout_s=hard,
        hard_timeout_reason=f"timed out after {format_seconds(attempt.timeout_s or 0)}s (killed by the supervisor)",
        cleanup_time_s=settings.core.killed_task_cleanup_time,
        messages=channel.fileno(),
        on_message=functools.partial(_record_received, attempt, channel, recorded, handed),
        reused=process.reusable,
    )
    ended = supervisor.run()
    output.drain_leftover()  # what a killed task process left unread, before the supervisor's lines
    if not handed and recorded.outcome is None:
        _take_unread(channel, handed)  # the process exited before its message was read
    if handed:
        _record_handed_over(attempt, recorded, handed[0])
    _after_child(attempt, ended)
    return ended


def _take_unread(channel: ResultChannel, handed: list[Received]) -> None:
    """An outcome handed over (``wait=False``) that is still unread in the channel."""
    readable, _, _ = select.select([channel.fileno()], [], [], 0)
    if not readable:
        return
    received = channel.receive()
    if isinstance(received, Received) and not received.wait:
        handed.append(received)


def _record_received(attempt: TryAttempt, channel: ResultChannel, recorded: _Recorded, handed: list[Received]) -> str:
    """In the supervisor: record the outcome the task process sent (``RECORDED``), or hear
    that a reused one is ``IDLE``; ``CLOSED`` at end of file.

    An outcome sent without ``wait`` is kept in ``handed`` and recorded once the task
    process has exited or is idle (``_record_handed_over``).
    """
    received = channel.receive()
    if received is None:
        return CLOSED
    if isinstance(received, Idle):
        return IDLE
    if not received.wait:
        handed.append(received)
        return RECORDED
    try:
        committed = _record_while_db_returns(attempt, received.result, received.outputs)
    except Exception:
        log.exception("could not record the outcome of %s", attempt.claimed.task_id)
        channel.refuse()
        return CLOSED
    channel.answer(committed)
    if committed:
        recorded.set(attempt.claimed, received.result)
    return RECORDED


def _record_handed_over(attempt: TryAttempt, recorded: _Recorded, received: Received) -> None:
    """Record an outcome the task process handed over before it exited, and log it in the try's log."""
    try:
        committed = _record_while_db_returns(attempt, received.result, received.outputs)
    except Exception as exc:
        log.exception("could not record the outcome of %s", attempt.claimed.task_id)
        _write_log_line(attempt.log_path, f"[supervisor] could not record the outcome: {outcome.describe(exc)}\n")
        return
    if not committed:
        _write_log_line(
            attempt.log_path,
            f"[supervisor] try {attempt.claimed.try_number} was taken away; its outcome is not recorded\n",
        )
        return
    recorded.set(attempt.claimed, received.result)
    _write_log_line(attempt.log_path, f"{_log_prefix()}{result_line(received.result)}\n")


#: Lines the supervisor writes into a try's log look like the task process's own.
_TASK_LOG_FORMATTER = logging.Formatter(LOG_FORMAT)


def _log_prefix() -> str:
    """The start of a task log line written by the supervisor (the task process's format)."""
    return _TASK_LOG_FORMATTER.format(logging.LogRecord(__name__, logging.INFO, __file__, 0, "", None, None))


def _record_while_db_returns(attempt: TryAttempt, result: outcome.TryResult, outputs: TryOutputs | None) -> bool:
    """``record_result``, retried while the database is away (a restart, a failover).

    Retries with backoff for up to ``scheduler.heartbeat_timeout`` (the reaper's limit
    for a silent try); a write whose commit answer was lost is recognised afterwards by
    the row holding this try's token and the outcome's state.
    """
    deadline = time.monotonic() + attempt.settings.scheduler.heartbeat_timeout
    delay, retried = RECORD_RETRY_FIRST_S, False
    while True:
        try:
            if record_result(attempt.db, attempt.claimed, result, outputs, pid=attempt.task_pid):
                return True
            status = lease.read_status(attempt.db, attempt.claimed.ti_id) if retried else None
            return status is not None and status.try_token == attempt.claimed.token and status.state is result.state
        except (DatabaseError, sa.exc.OperationalError) as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning(
                "recording the outcome of %s failed (%s); retrying in %.1fs",
                attempt.claimed.task_id,
                str(exc).splitlines()[0],
                delay,
            )
            retried = True
            time.sleep(delay)
            delay = min(delay * 2, RECORD_RETRY_MAX_S)


def _after_child(attempt: TryAttempt, ended: ChildExit) -> None:
    """Record a try whose process died without recording, and run its callbacks."""
    if ended.exit_code == 0 and ended.killed_for is None:
        return  # the task process ran the try to its end (recorded, or found it taken away)
    status = lease.read_status(attempt.db, attempt.claimed.ti_id)
    reason = ended.describe()
    if status is None or status.try_token != attempt.claimed.token or status.state is not TI.RUNNING:
        now = "gone" if status is None else f"{status.state.value}, try {status.try_number}"
        _write_log_line(attempt.log_path, f"\n[supervisor] {reason} (now {now}): stopped\n")
        if status is not None and ended.killed_for is not None:
            record_stopped(
                attempt.db, attempt.claimed, f"stopped: the task instance was set to {status.state.value} while it ran"
            )
        return
    _write_log_line(attempt.log_path, f"\n[supervisor] {reason}\n")
    _record_crash(attempt, reason)


def _record_crash(attempt: TryAttempt, reason: str) -> None:
    claimed = attempt.claimed
    result = outcome.failure(
        reason,
        try_number=claimed.try_number,
        max_tries=claimed.max_tries,
        policy=TryPolicy.of(attempt.task),
        now=utcnow(),
    )
    if record_result(attempt.db, claimed, result, pid=attempt.task_pid):
        run_crash_callbacks(attempt, result)


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
