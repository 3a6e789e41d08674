"""Airflow's clear of one task instance: the single rule behind ``tasks clear`` and backfill re-runs."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dagflow.models import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.serialization.objects import SerializedDag
from dagflow.state import TaskInstanceState

TI = TaskInstanceState


def clear_task_instance(session: Session, dag: SerializedDag, ti: TaskInstance) -> bool:
    """``ti`` to ``none`` (``restarting`` if running), its try number kept, its retries renewed.

    The next try is ``try_number + 1`` and it gets the task's full ``retries`` again; a task
    that has left the DAG keeps what its row allows. False if nothing changed.
    """
    if ti.state is TI.NONE:
        return False
    if ti.task_id in dag.tasks:
        max_tries = ti.try_number + dag.tasks[ti.task_id].retries
    else:
        max_tries = max(ti.max_tries, ti.try_number)
    if ti.state is TI.RUNNING:
        return (
            set_ti_state(session, [ti.id], to=TI.RESTARTING, expected=[TI.RUNNING], values={"max_tries": max_tries})
            == 1
        )
    values = {
        "max_tries": max_tries,
        "next_try_at": None,
        "first_poke_at": None,
        "requeue_count": 0,
        "external_executor_id": None,
        "queued_by_job_id": None,
        "trigger_id": None,
        "trigger_timeout": None,
        "next_method": None,
        "next_kwargs": None,
    }
    return set_ti_state(session, [ti.id], to=TI.NONE, expected=[ti.state], values=values) == 1
