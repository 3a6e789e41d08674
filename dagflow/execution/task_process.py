"""The body of one try: build the context, render, ``execute`` under a time limit, record.

Runs inside the forked task process (or in-process when isolation is off). The
outcome, the returned XComs and the history row are written in one transaction, and
only then do the task's callbacks run. Every secret the try knows (``TryAttempt.masker``)
is masked in its log and in the reason recorded with its outcome.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from dagflow.exceptions import TaskTimeout
from dagflow.execution import outcome
from dagflow.execution import xcom as xcom_rows
from dagflow.execution.assets import InletEventsAccessor, outlet_events_of
from dagflow.execution.backend import DbRuntimeBackend
from dagflow.execution.callbacks import has_outcome_callbacks, run_callbacks, run_outcome_callbacks
from dagflow.execution.context import Context, build_context
from dagflow.execution.record import TryOutputs, record_result
from dagflow.execution.rendered_fields import RenderedFields, masked_rendered_fields
from dagflow.execution.runtime_ti import RuntimeTaskInstance
from dagflow.models.base import utcnow
from dagflow.models.xcom import XCOM_RETURN_KEY
from dagflow.sdk import runtime
from dagflow.sdk.assets import OutletEventAccessors
from dagflow.sdk.current_context import set_current_context
from dagflow.sdk.try_policy import TryPolicy
from dagflow.secrets.fernet import FernetCipher
from dagflow.secrets.masker import SecretsMasker
from dagflow.secrets.stored import register_settings_secrets, register_stored_secrets

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection as SAConnection

    from dagflow.config import Settings
    from dagflow.db import Database
    from dagflow.execution.claim import ClaimedTry

log = logging.getLogger("dagflow.task")


class TaskTerminated(BaseException):
    """The task process was told to stop (SIGTERM): the try is no longer ours."""


@dataclass(frozen=True)
class TryAttempt:
    """Everything one try needs: the claimed row, the parsed DAG and task, where to log."""

    claimed: ClaimedTry
    dag: Any
    task: Any
    settings: Settings
    db: Database
    log_path: Path
    timeout_s: float | None
    test_mode: bool = False
    #: The task process's pid, once forked (the supervisor's copy of the attempt knows it).
    task_pid: int | None = None
    #: The secrets masked in this try's log; filled by ``register_known_secrets`` and by reads.
    masker: SecretsMasker = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.masker is None:
            object.__setattr__(self, "masker", SecretsMasker(self.settings.core.sensitive_var_conn_names))


def register_known_secrets(attempt: TryAttempt, *, stored_read: bool = False) -> None:
    """Register the settings' secrets and every stored one with the try's masker, before it runs.

    Values the task reads later are registered again as it reads them; this covers what it
    reaches another way (a subprocess running ``dagflow connections get``, a direct query).
    ``stored_read``: the stored ones were registered already, by the claim's reads
    (``stored_secrets_reader``).
    """
    cipher = FernetCipher(attempt.settings)
    register_settings_secrets(attempt.masker, attempt.settings, cipher)
    if stored_read:
        return
    try:
        with attempt.db.transaction(readonly=True) as session:
            register_stored_secrets(attempt.masker, session, cipher)
    except Exception as exc:  # noqa: BLE001 - masking is best effort; it must not stop the try
        log.warning("cannot read the stored secrets to mask them: %s", outcome.describe(exc))


def stored_secrets_reader(masker: SecretsMasker, settings: Settings) -> Callable[[SAConnection], None]:
    """A ``read_also`` for the claim: register every stored secret with ``masker`` on the claim's connection.

    Best effort, as ``register_known_secrets``: a failure to use what was read is logged
    and the claim goes on; a database error fails the claim's transaction as any of its
    statements would (the claim is tried again while the database is busy or away).
    """

    def read(connection: SAConnection) -> None:
        try:
            register_stored_secrets(masker, connection, FernetCipher(settings))
        except sa.exc.DBAPIError:
            raise
        except Exception as exc:  # noqa: BLE001 - masking is best effort; it must not stop the try
            log.warning("cannot read the stored secrets to mask them: %s", outcome.describe(exc))

    return read


def format_seconds(seconds: float) -> str:
    """``2`` for 2.0, ``1.5`` for 1.5."""
    return f"{seconds:g}"


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise ``TaskTimeout`` inside the block after ``seconds`` (main thread only)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum: int, frame: Any) -> None:
        raise TaskTimeout(f"timed out after {format_seconds(seconds)}s")

    outer_left, _ = signal.getitimer(signal.ITIMER_REAL)  # e.g. pytest-timeout's alarm
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer_left:
            signal.setitimer(signal.ITIMER_REAL, max(outer_left - (time.monotonic() - started), 0.001))


class TryReporter(Protocol):
    """Who records a try: hears its rendered fields as soon as they exist, then its outcome."""

    def rendered(self, fields: RenderedFields) -> None:
        """Keep the try's rendered template fields (masked), to be written with its outcome."""

    def record(self, result: outcome.TryResult, outputs: TryOutputs | None, wait: bool) -> bool | None:
        """Record the outcome: True if committed, False if the try was taken away meanwhile,
        None if handed over without waiting (``wait=False``: the recorder commits it later)."""


class DirectReporter:
    """Records the try in the DB from this process (a try run in-process), rendered fields included."""

    def __init__(self, attempt: TryAttempt) -> None:
        self.attempt = attempt
        self.fields: RenderedFields | None = None

    def rendered(self, fields: RenderedFields) -> None:
        """Keep the fields for the record."""
        self.fields = fields

    def record(self, result: outcome.TryResult, outputs: TryOutputs | None, wait: bool) -> bool:
        """One transaction: the outcome, its outputs and the rendered fields."""
        attempt = self.attempt
        return record_result(attempt.db, attempt.claimed, result, outputs, pid=os.getpid(), rendered=self.fields)


def run_try(attempt: TryAttempt, reporter: TryReporter | None = None) -> outcome.TryResult | None:
    """Run the try and have it recorded (by ``reporter``, default: directly in the DB);
    the result, or None if the try was taken away meanwhile.

    A try with no callbacks to run for its outcome does not wait for the commit: a
    forked task process hands the outcome to its supervisor and exits, and the
    supervisor records it once the process is gone (cheaper than writing while a forked
    copy of the worker is alive).
    """
    claimed = attempt.claimed
    backend = DbRuntimeBackend(
        attempt.db, attempt.settings, dag_id=claimed.dag_id, run_id=claimed.run_id, masker=attempt.masker
    )
    if reporter is None:
        reporter = DirectReporter(attempt)
    with runtime.installed(backend):
        task, context, result, outputs = _execute(attempt, backend, reporter)
        if result.reason:
            result = dataclasses.replace(result, reason=attempt.masker.mask(result.reason))
        recorded = reporter.record(result, outputs, has_outcome_callbacks(task, result.state))
        if recorded is None:
            return result
        if not recorded:
            log.warning("try %s of %s was taken away; its outcome is not recorded", claimed.try_number, claimed.task_id)
            return None
        _log_result(result)
        run_outcome_callbacks(task, result.state, context)
    return result


def _execute(
    attempt: TryAttempt, backend: DbRuntimeBackend, reporter: TryReporter
) -> tuple[Any, Context, outcome.TryResult, TryOutputs | None]:
    claimed = attempt.claimed
    task = attempt.task
    context: Context = {}
    try:
        context = _context_for(attempt, backend)
        task = _materialize(task, context)
        _keep_rendered(task, attempt.masker, reporter)
        run_callbacks(task, "on_execute_callback", context)
        log.info("running %s (try %s of %s)", claimed.task_id, claimed.try_number, claimed.max_tries + 1)
        with time_limit(attempt.timeout_s), set_current_context(context):
            value = _call_task(task, context, claimed)
        outputs = _outputs(task, value, backend, claimed)
        events = outlet_events_of(task, context["outlet_events"])
        if events and not attempt.test_mode:  # `tasks test` keeps nothing (Airflow's test mode)
            outputs = dataclasses.replace(outputs, asset_events=events)
        return task, context, outcome.success(), outputs
    except TaskTerminated:
        _on_kill(task)
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any error ends the try; its kind decides how
        if isinstance(exc, TaskTimeout):
            _on_kill(task)
        context["exception"] = exc
        result = outcome.decide(
            exc,
            try_number=claimed.try_number,
            max_tries=claimed.max_tries,
            policy=TryPolicy.of(task),
            now=utcnow(),
        )
        _log_exception(exc, result)
        return task, context, result, None


def _call_task(task: Any, context: Context, claimed: ClaimedTry) -> Any:
    """``execute(context)``, or the method a deferred try resumes in, with the trigger's event."""
    if claimed.next_method:
        log.info("resuming %s in %s after deferral", claimed.task_id, claimed.next_method)
        return task.resume_execution(claimed.next_method, claimed.next_kwargs, context)
    return task.execute(context)


def _context_for(attempt: TryAttempt, backend: DbRuntimeBackend) -> Context:
    """The context of the try (params validated against the run conf), with its asset events."""
    claimed = attempt.claimed
    ti = RuntimeTaskInstance(claimed, task=attempt.task, backend=backend, log_path=attempt.log_path)
    context = _base_context(attempt, backend, ti)
    context["outlet_events"] = OutletEventAccessors()
    inlet_events = InletEventsAccessor(attempt.db, claimed.run.id)
    context["inlet_events"] = inlet_events
    context["triggering_asset_events"] = inlet_events
    return context


def _base_context(attempt: TryAttempt, backend: DbRuntimeBackend, ti: RuntimeTaskInstance) -> Context:
    claimed = attempt.claimed
    return build_context(
        claimed,
        dag=attempt.dag,
        task=attempt.task,
        ti=ti,
        backend=backend,
        storage=backend.storage,
        settings=attempt.settings,
        test_mode=attempt.test_mode,
    )


def _materialize(task: Any, context: Context) -> Any:
    """The task to run: unmapped for this map index, copied, its template fields rendered."""
    if getattr(task, "is_mapped", False):
        task = task.unmap(context)
    if hasattr(task, "prepare_for_execution"):
        task = task.prepare_for_execution()
    context["ti"].task = context["task"] = task
    task.render_template_fields(context)
    return task


def _keep_rendered(task: Any, masker: SecretsMasker, reporter: TryReporter) -> None:
    """Hand the rendered template fields (masked) to the reporter, which writes them with the
    outcome for the web UI; a failure to keep them never fails the try."""
    try:
        reporter.rendered(masked_rendered_fields(task, masker))
    except Exception:
        log.warning("could not keep the rendered template fields of %s", task.task_id, exc_info=True)


def _outputs(task: Any, value: Any, backend: DbRuntimeBackend, claimed: ClaimedTry) -> TryOutputs:
    """The encoded return-value XComs (and the value sizing mapped downstreams)."""
    if value is None or not getattr(task, "do_xcom_push", True):
        return TryOutputs()
    items: list[tuple[str, Any]] = [(XCOM_RETURN_KEY, value)]
    if getattr(task, "multiple_outputs", False) and isinstance(value, dict):
        items += [(str(k), v) for k, v in value.items()]
    encoded = [
        (
            key,
            backend.encode_xcom(
                v,
                dag_id=claimed.dag_id,
                run_id=claimed.run_id,
                task_id=claimed.task_id,
                map_index=claimed.map_index,
                key=key,
            ),
        )
        for key, v in items
    ]
    size = xcom_rows.mapping_size(value)
    return TryOutputs(xcoms=encoded, map_length=size[0] if size else None, map_keys=size[1] if size else None)


def _on_kill(task: Any) -> None:
    try:
        task.on_kill()
    except Exception:
        log.exception("on_kill of %s raised (ignored)", getattr(task, "task_id", "?"))


def _log_exception(exc: BaseException, result: outcome.TryResult) -> None:
    if result.is_failure:
        log.error("task failed: %s", result.reason, exc_info=exc)
    else:
        log.info("task ended %s: %s", result.state.value, result.reason)


def _log_result(result: outcome.TryResult) -> None:
    log.info(result_line(result))


def result_line(result: outcome.TryResult) -> str:
    """``marked success`` / ``marked up_for_retry, next try at …``: the task log's last line."""
    when = f", next try at {result.next_try_at.isoformat()}" if result.next_try_at else ""
    return f"marked {result.state.value}{when}"


def record_crash(attempt: TryAttempt, reason: str, *, rendered: RenderedFields | None = None) -> None:
    """Record the failure (or retry) of a try that ended without recording (with the
    ``rendered`` fields it sent before, if any), then its callbacks."""
    claimed = attempt.claimed
    result = outcome.failure(
        reason,
        try_number=claimed.try_number,
        max_tries=claimed.max_tries,
        policy=TryPolicy.of(attempt.task),
        now=utcnow(),
    )
    if record_result(attempt.db, claimed, result, pid=attempt.task_pid, rendered=rendered):
        run_crash_callbacks(attempt, result)


def run_crash_callbacks(attempt: TryAttempt, result: outcome.TryResult) -> None:
    """Failure/retry callbacks for a try recorded by the supervisor (the task process died)."""
    claimed = attempt.claimed
    backend = DbRuntimeBackend(
        attempt.db, attempt.settings, dag_id=claimed.dag_id, run_id=claimed.run_id, masker=attempt.masker
    )
    try:
        with runtime.installed(backend):
            context = _context_for(attempt, backend)
            context["exception"] = result.reason
            run_outcome_callbacks(attempt.task, result.state, context)
    except Exception:
        log.exception("callbacks after the task process died could not run")
