"""Airflow's clear of one task instance: the single rule behind ``tasks clear``, backfill
re-runs and ``TriggerDagRunOperator(reset_dag_run=True)``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dagflow.models.taskinstance import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.state import TaskInstanceState

TI = TaskInstanceState


def clear_ti(session: Session, ti: TaskInstance, *, retries: int | None) -> bool:
    """``ti`` to ``none`` (``restarting`` if running), its try number kept, its retries renewed.

    The next try is ``try_number + 1`` and it gets ``retries`` (the task's, from its DAG)
    again; ``None`` (a task that has left the DAG) keeps what its row allows. False if
    nothing changed.
    """
    if ti.state is TI.NONE:
        return False
    max_tries = ti.try_number + retries if retries is not None else max(ti.max_tries, ti.try_number)
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
