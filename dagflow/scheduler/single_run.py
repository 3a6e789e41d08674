"""Drive one DAG run to its end through a ``Scheduler`` scoped to it (``dags test``, ``dagflow.testing``).

``run_to_end`` is a thin loop around ``Scheduler.tick()``, as ``Scheduler.run()`` is:
tick while ticks do something (with an inline executor each tick runs the tries it
queued, and the next one sees their events); when a tick finds nothing to do, wait on
the scheduler's clock for the next wake-up (a retry delay, a sensor's next poke, the
run's timeout) with ``clock.wait_until``: a sleep of at most a second on the wall
clock, a jump of a ``FrozenClock``. A run with nothing to wait for that has not
finished cannot make progress (a task held by ``depends_on_past``, a DAG gone from
the DB): that is an error, not a hang. Deferred task instances have no triggerer here:
their triggers run in this process (``triggerer/inline.py``), as in Airflow's ``dag.test()``.
"""

from __future__ import annotations

from dagflow.exceptions import DagflowError
from dagflow.scheduler.clock import MAX_NAP, wait_until
from dagflow.scheduler.dagruns import find_dagrun
from dagflow.scheduler.loop import Scheduler
from dagflow.state import DAGRUN_FINISHED, DagRunState
from dagflow.triggerer.inline import resume_deferred_inline


def run_to_end(scheduler: Scheduler) -> DagRunState:
    """Tick ``scheduler`` (made with ``only_run``) until its run is finished; the run's final state."""
    if scheduler.only_run is None:
        raise ValueError("run_to_end needs a Scheduler scoped to one run (only_run=(dag_id, run_id))")
    dag_id, run_id = scheduler.only_run
    while True:
        report = scheduler.tick()
        busy = report.did_work or report.events
        if report.runs_finished or not busy:
            state = _run_state(scheduler, dag_id, run_id)
            if state is not None and state in DAGRUN_FINISHED:
                return state
            if state is None:
                raise DagflowError(f"DAG run {run_id!r} of {dag_id!r} is gone (deleted while it ran?)")
        if busy:
            continue
        if resume_deferred_inline(scheduler.settings, scheduler.db, dag_id, run_id):
            continue  # no triggerer here: its deferred tasks' triggers ran in this process
        if scheduler.tries_in_flight:  # an executor that runs tries elsewhere: wait for their events
            scheduler.wakeup.wait(MAX_NAP)
            scheduler.wakeup.clear()
        elif report.next_wakeup is not None:
            wait_until(scheduler.clock, report.next_wakeup)
        else:
            raise DagflowError(
                f"DAG run {run_id!r} of {dag_id!r} cannot make progress: no task can run and none is waiting"
            )


def _run_state(scheduler: Scheduler, dag_id: str, run_id: str) -> DagRunState | None:
    """The run's state in the DB (None if it is gone)."""
    with scheduler.db.transaction(readonly=True) as session:
        run = find_dagrun(session, dag_id=dag_id, run_id=run_id)
        return run.state if run is not None else None
