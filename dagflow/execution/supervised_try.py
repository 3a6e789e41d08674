"""The worker's side of a forked try: supervise it, record what it sent, or why it died.

``supervise`` runs the ``Supervisor`` loop (heartbeat, hard deadline, undead check) over
one task process. The outcome the task process sends on its result channel is recorded
here, on the worker's warm connection pool: at once when the task process waits for the
answer (it has callbacks to run), else once it has exited or says it is idle. The
rendered template fields it sends first are written in the same transaction (or by an
earlier heartbeat, if the try ran that long). A task process that died without sending
an outcome gets its failure (or retry) recorded with the reason and whatever rendered
fields arrived, and its failure callbacks run here.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from dagflow.exceptions import DatabaseError
from dagflow.execution import claim as lease
from dagflow.execution import outcome
from dagflow.execution.channel import Idle, Received, Rendered, ResultChannel
from dagflow.execution.log_masking import MaskedLogPipe
from dagflow.execution.logs import LOG_FORMAT, write_log_line
from dagflow.execution.record import TryOutputs, record_result, record_stopped
from dagflow.execution.rendered_fields import RenderedFields
from dagflow.execution.reused_process import TaskProcess
from dagflow.execution.supervisor import CLOSED, IDLE, RECORDED, RENDERED, ChildExit, Supervisor
from dagflow.execution.task_process import TryAttempt, format_seconds, record_crash, result_line
from dagflow.execution.workload import TaskOutcome
from dagflow.state import TaskInstanceState

log = logging.getLogger(__name__)
TI = TaskInstanceState

#: Seconds past ``execution_timeout`` before the supervisor SIGKILLs the task's tree.
HARD_TIMEOUT_GRACE_S = 3.0
#: First and longest pause between attempts to record an outcome while the DB is away.
RECORD_RETRY_FIRST_S = 0.2
RECORD_RETRY_MAX_S = 5.0


class Recorded:
    """The outcome the supervisor committed for this try (and who wants to hear it)."""

    def __init__(self, listener: Callable[[TaskOutcome], None] | None) -> None:
        self.listener = listener
        self.outcome: TaskOutcome | None = None

    def set(self, claimed: lease.ClaimedTry, result: outcome.TryResult) -> None:
        """Keep the committed outcome and tell the listener."""
        self.outcome = TaskOutcome(claimed.ti_id, claimed.try_number, result.state, result.reason)
        if self.listener is not None:
            try:
                self.listener(self.outcome)
            except Exception:
                log.exception("on_recorded listener failed")


@dataclass
class Sent:
    """What the task process sent for this try: its rendered fields, an outcome handed over."""

    rendered: RenderedFields | None = None
    #: The rendered fields are in the DB already (a heartbeat or the record wrote them).
    rendered_written: bool = False
    handed: Received | None = None

    def unwritten_rendered(self) -> RenderedFields | None:
        """The rendered fields if they arrived and are not written yet."""
        return None if self.rendered_written else self.rendered

    def take(self, received: Received | Rendered) -> None:
        """Keep rendered fields, or an outcome handed over without waiting."""
        if isinstance(received, Rendered):
            self.rendered = received.fields
        elif not received.wait:
            self.handed = received


def supervise(attempt: TryAttempt, process: TaskProcess, recorded: Recorded, output: MaskedLogPipe) -> ChildExit:
    """Watch the try's task process until it exits (or, reused, is idle), and record the try."""
    claimed = attempt.claimed
    pid, channel = process.pid, process.channel
    sent = Sent()
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child already did it (or exited)
    settings = attempt.settings
    hard = attempt.timeout_s + HARD_TIMEOUT_GRACE_S if attempt.timeout_s else None
    first = [True]

    def beat() -> bool:  # the first heartbeat also records the task process's pid (and any rendered fields)
        rendered = sent.unwritten_rendered()
        ours = lease.heartbeat(
            attempt.db,
            claimed.ti_id,
            claimed.token,
            pid=pid if first[0] else None,
            rendered=None if rendered is None else (claimed.try_number, rendered),
        )
        first[0] = False
        sent.rendered_written = sent.rendered_written or (ours and rendered is not None)
        return ours

    supervisor = Supervisor(
        pid,
        heartbeat=beat,
        heartbeat_interval_s=settings.scheduler.heartbeat_interval,
        hard_timeout_s=hard,
        hard_timeout_reason=f"timed out after {format_seconds(attempt.timeout_s or 0)}s (killed by the supervisor)",
        cleanup_time_s=settings.core.killed_task_cleanup_time,
        messages=channel.fileno(),
        on_message=lambda: _record_received(attempt, channel, recorded, sent),
        reused=process.reusable,
    )
    ended = supervisor.run()
    output.drain_leftover()  # what a killed task process left unread, before the supervisor's lines
    if sent.handed is None and recorded.outcome is None:
        take_unread(channel, sent)  # the process exited before its messages were read
    if sent.handed is not None:
        _record_handed_over(attempt, recorded, sent)
    _after_child(attempt, ended, sent)
    return ended


def take_unread(channel: ResultChannel, sent: Sent) -> None:
    """The rendered fields and an outcome handed over (``wait=False``) still unread in the channel."""
    while select.select([channel.fileno()], [], [], 0)[0]:
        received = channel.receive()
        if not isinstance(received, (Received, Rendered)):
            return
        sent.take(received)


def _record_received(attempt: TryAttempt, channel: ResultChannel, recorded: Recorded, sent: Sent) -> str:
    """In the supervisor: record the outcome the task process sent (``RECORDED``), keep its
    rendered fields (``RENDERED``), or hear that a reused one is ``IDLE``; ``CLOSED`` at end
    of file.

    An outcome sent without ``wait`` is kept in ``sent`` and recorded once the task
    process has exited or is idle (``_record_handed_over``).
    """
    received = channel.receive()
    if received is None:
        return CLOSED
    if isinstance(received, Idle):
        return IDLE
    if isinstance(received, Rendered) or not received.wait:
        sent.take(received)
        return RENDERED if isinstance(received, Rendered) else RECORDED
    try:
        committed = _record_sent(attempt, sent, received)
    except Exception:
        log.exception("could not record the outcome of %s", attempt.claimed.task_id)
        channel.refuse()
        return CLOSED
    channel.answer(committed)
    if committed:
        recorded.set(attempt.claimed, received.result)
    return RECORDED


def _record_handed_over(attempt: TryAttempt, recorded: Recorded, sent: Sent) -> None:
    """Record an outcome the task process handed over before it exited, and log it in the try's log."""
    received = sent.handed
    assert received is not None
    try:
        committed = _record_sent(attempt, sent, received)
    except Exception as exc:
        log.exception("could not record the outcome of %s", attempt.claimed.task_id)
        write_log_line(attempt.log_path, f"[supervisor] could not record the outcome: {outcome.describe(exc)}\n")
        return
    if not committed:
        write_log_line(
            attempt.log_path,
            f"[supervisor] try {attempt.claimed.try_number} was taken away; its outcome is not recorded\n",
        )
        return
    recorded.set(attempt.claimed, received.result)
    write_log_line(attempt.log_path, f"{_log_prefix()}{result_line(received.result)}\n")


def _record_sent(attempt: TryAttempt, sent: Sent, received: Received) -> bool:
    """Record the outcome the task process sent, with its rendered fields if still unwritten."""
    committed = record_while_db_returns(attempt, received.result, received.outputs, sent.unwritten_rendered())
    sent.rendered_written = sent.rendered_written or committed
    return committed


#: Lines the supervisor writes into a try's log look like the task process's own.
_TASK_LOG_FORMATTER = logging.Formatter(LOG_FORMAT)


def _log_prefix() -> str:
    """The start of a task log line written by the supervisor (the task process's format)."""
    return _TASK_LOG_FORMATTER.format(logging.LogRecord(__name__, logging.INFO, __file__, 0, "", None, None))


def record_while_db_returns(
    attempt: TryAttempt, result: outcome.TryResult, outputs: TryOutputs | None, rendered: RenderedFields | None
) -> bool:
    """``record_result`` (with the try's ``rendered`` fields), retried while the database is away (a restart, a failover).

    Retries with backoff for up to ``scheduler.heartbeat_timeout`` (the reaper's limit
    for a silent try); a write whose commit answer was lost is recognised afterwards by
    the row holding this try's token and the outcome's state.
    """
    deadline = time.monotonic() + attempt.settings.scheduler.heartbeat_timeout
    delay, retried = RECORD_RETRY_FIRST_S, False
    while True:
        try:
            if record_result(attempt.db, attempt.claimed, result, outputs, pid=attempt.task_pid, rendered=rendered):
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


def _after_child(attempt: TryAttempt, ended: ChildExit, sent: Sent) -> None:
    """Record a try whose process died without recording (with the rendered fields that
    arrived), and run its callbacks."""
    if ended.exit_code == 0 and ended.killed_for is None:
        return  # the task process ran the try to its end (recorded, or found it taken away)
    status = lease.read_status(attempt.db, attempt.claimed.ti_id)
    reason = ended.describe()
    if status is None or status.try_token != attempt.claimed.token or status.state is not TI.RUNNING:
        now = "gone" if status is None else f"{status.state.value}, try {status.try_number}"
        write_log_line(attempt.log_path, f"\n[supervisor] {reason} (now {now}): stopped\n")
        if status is not None and ended.killed_for is not None:
            record_stopped(
                attempt.db,
                attempt.claimed,
                f"stopped: the task instance was set to {status.state.value} while it ran",
                rendered=sent.unwritten_rendered(),
            )
        return
    write_log_line(attempt.log_path, f"\n[supervisor] {reason}\n")
    record_crash(attempt, reason, rendered=sent.unwritten_rendered())
