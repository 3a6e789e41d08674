"""DAG-level ``on_success_callback`` / ``on_failure_callback``, run outside the scheduler.

The scheduler never imports DAG files, so when a run finishes and its serialized DAG
says it has the callback, the loop hands a ``DagCallbackRequest`` to the
``CallbackRunner``. The runner starts a short-lived process (spawned, so it inherits no
DB connection and no lock of the scheduler) that imports the DAG file through the warm
``DagCache``, builds a small context (``dag``, ``dag_run``, ``run_id``,
``logical_date``, data interval, ``conf``, ``params``, ``reason``) and calls the
callbacks. An error in a callback is logged, never raised; a callback running longer
than ``scheduler.parsing_timeout`` is killed.

``InProcessCallbackRunner`` is for a process that holds the DAG objects already
(``dags test``, ``dagflow.testing.run_dag``): their DAG callbacks run at once, in this
process, on those objects (no DAG file is imported), printing to stderr so stdout stays
the command's output; anything else goes to a process.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from dagflow.config import Settings
from dagflow.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DagCallbackRequest:
    """Run the DAG's ``callback`` (attribute name) for one finished run."""

    dag_id: str
    run_id: str
    fileloc: str
    callback: str
    reason: str

    def run(self, settings: Settings) -> None:
        """In the callback process: see ``run_dag_callback``."""
        run_dag_callback(settings, self)


class CallbackRequest(Protocol):
    """Work for a callback process: DAG callbacks here, task callbacks (``reaper.py``),
    SLA miss callbacks (``sla.py``). ``run`` is called in the spawned process."""

    @property
    def dag_id(self) -> str:
        """The DAG (for logs)."""

    @property
    def run_id(self) -> str:
        """The run, or runs (for logs)."""

    @property
    def callback(self) -> str:
        """The callback attribute (for logs)."""

    def run(self, settings: Settings) -> None:
        """Do the work, in the callback process."""


class CallbackRunner:
    """Starts one process per request and reaps them (non-blocking)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._running: list[tuple[BaseProcess, float, CallbackRequest]] = []

    def submit(self, request: CallbackRequest) -> None:
        """Start running ``request`` in its own process."""
        ctx = multiprocessing.get_context("spawn")
        proc = ctx.Process(
            target=_run_request, args=(request, self.settings), name=f"dagflow-callback-{request.dag_id}", daemon=True
        )
        proc.start()
        self._running.append((proc, time.monotonic(), request))

    def reap(self) -> int:
        """Forget finished processes, kill overdue ones; how many are still running."""
        still: list[tuple[BaseProcess, float, CallbackRequest]] = []
        timeout = self.settings.scheduler.parsing_timeout
        for proc, started, request in self._running:
            if not proc.is_alive():
                proc.join()
            elif time.monotonic() - started > timeout:
                log.error(
                    "%s of %s/%s took longer than %.0fs: killed",
                    request.callback,
                    request.dag_id,
                    request.run_id,
                    timeout,
                )
                proc.kill()
                proc.join()
            else:
                still.append((proc, started, request))
        self._running = still
        return len(still)

    def wait(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for running callbacks to finish."""
        deadline = time.monotonic() + timeout
        while self.reap() and time.monotonic() < deadline:
            time.sleep(0.02)

    def shutdown(self, grace_s: float = 5.0) -> None:
        """Let running callbacks finish for ``grace_s``, then kill the rest."""
        self.wait(grace_s)
        for proc, _, _ in self._running:
            proc.kill()
            proc.join()
        self._running = []


class InProcessCallbackRunner(CallbackRunner):
    """Runs the DAG callbacks of ``dags`` (DAG objects by id) at once, in this process."""

    def __init__(self, settings: Settings, db: Database, dags: Mapping[str, Any]) -> None:
        super().__init__(settings)
        self.db = db
        self.dags = dict(dags)

    def submit(self, request: CallbackRequest) -> None:
        """Call a DAG callback of a DAG held here now; start a process for anything else."""
        dag = self.dags.get(request.dag_id)
        if not isinstance(request, DagCallbackRequest) or dag is None:
            super().submit(request)
            return
        try:
            with contextlib.redirect_stdout(sys.stderr):  # stdout is the command's (``dags test --output json``)
                call_dag_callbacks(self.db, dag, request)
        except Exception:
            log.exception("%s of DAG %s could not run", request.callback, request.dag_id)
        finally:
            sys.stderr.flush()


def _run_request(request: CallbackRequest, settings: Settings) -> None:
    """The callback process's entry point: a fresh interpreter, so set the SDK's zone first."""
    from dagflow.sdk.timezone import set_default_timezone

    set_default_timezone(settings.core.default_timezone)
    request.run(settings)


def run_dag_callback(settings: Settings, request: DagCallbackRequest) -> None:
    """In the callback process: import the DAG, build the context, call the callbacks."""
    from dagflow.execution.dag_cache import DagCache

    logging.basicConfig(level=settings.logging.level.upper())
    db = Database(settings)
    try:
        dag = DagCache().get_dag(request.fileloc, request.dag_id)
        call_dag_callbacks(db, dag, request)
    except Exception:
        log.exception("%s of DAG %s could not run", request.callback, request.dag_id)
    finally:
        db.dispose()


def call_dag_callbacks(db: Database, dag: Any, request: DagCallbackRequest) -> None:
    """Build the context of the finished run and call the DAG's callbacks (an error in one is logged)."""
    from dagflow.execution.backend import DbRuntimeBackend
    from dagflow.execution.callbacks import run_callbacks
    from dagflow.sdk import runtime

    context = _context(db, dag, request)
    if context is not None:
        backend = DbRuntimeBackend(db, db.settings, dag_id=request.dag_id, run_id=request.run_id)
        with runtime.installed(backend):  # variables and connections (a notifier's conn id) work here too
            run_callbacks(dag, request.callback, context)


def _context(db: Database, dag: Any, request: DagCallbackRequest) -> dict[str, Any] | None:
    from dagflow.execution.claim import run_info
    from dagflow.scheduler.dagruns import find_dagrun

    with db.transaction(readonly=True) as session:
        run = find_dagrun(session, dag_id=request.dag_id, run_id=request.run_id)
        if run is None:
            return None
        info = run_info(run)
        state = run.state.value
    params = getattr(dag, "params", None)
    return {
        "dag": dag,
        "dag_run": info,
        "run_id": info.run_id,
        "logical_date": info.logical_date,
        "data_interval_start": info.data_interval_start,
        "data_interval_end": info.data_interval_end,
        "conf": info.conf,
        "params": dict(params) if params is not None else {},
        "reason": request.reason,
        "state": state,
    }
