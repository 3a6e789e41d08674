"""The forked task process's main: run the try (and, when reused, the next ones), then exit.

The worker forks (``runner``); the child lands in ``task_process_main``, which puts itself
in its own process group, sends its output to the try's (masked) log, runs the try body
(``task_process.run_try``) and hands the outcome to its supervisor over the result
channel. A reused task process (``reused_process``) says ``idle`` and waits for the next
try instead of exiting. It always ends in ``os._exit``: no cleanup inherited from the
worker runs in it.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from typing import TYPE_CHECKING, Any

from dagflow.execution.logs import configure_child_logging, resolve_level
from dagflow.execution.process_tree import kill_own_descendants
from dagflow.execution.reused_process import ReuseGuard, next_attempt
from dagflow.execution.supervisor import watch_parent
from dagflow.execution.task_process import TaskTerminated, TryAttempt, run_try

if TYPE_CHECKING:
    from dagflow.execution import outcome
    from dagflow.execution.channel import ResultChannel
    from dagflow.execution.dag_cache import DagCache
    from dagflow.execution.log_masking import MaskedLogPipe
    from dagflow.execution.record import TryOutputs
    from dagflow.execution.rendered_fields import RenderedFields


def task_log_level(attempt: TryAttempt) -> int:
    """The level the try logs at: the task's ``log_level``, else ``logging.level``."""
    return resolve_level(getattr(attempt.task, "log_level", None), attempt.settings.logging.level)


def task_process_main(
    attempt: TryAttempt, channel: ResultChannel, output: MaskedLogPipe, cache: DagCache | None
) -> None:
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
        configure_child_logging(task_log_level(attempt))
        _install_child_signals()
        result = run_try(attempt, ChannelReporter(channel))
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


class ChannelReporter:
    """In the task process: the supervisor records the try, from what is sent on the channel."""

    def __init__(self, channel: ResultChannel) -> None:
        self.channel = channel

    def rendered(self, fields: RenderedFields) -> None:
        """Send the rendered fields now: the supervisor keeps them even if the try is killed."""
        self.channel.send_rendered(fields)

    def record(self, result: outcome.TryResult, outputs: TryOutputs | None, wait: bool) -> bool | None:
        """Have the supervisor record the outcome; its answer, if ``wait``.

        Without ``wait`` (no callbacks to run) the process exits (or, reused, says it is
        idle) and the supervisor records the outcome then; None says so.
        """
        self.channel.send_result(result, outputs, wait=wait)
        if not wait:
            return None
        answer = self.channel.wait_answer()
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
