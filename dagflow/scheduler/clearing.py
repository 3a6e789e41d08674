"""Airflow's clear of one task instance of a known DAG (the rule itself: ``models/clearing.py``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from dagflow.models import TaskInstance
from dagflow.models.clearing import clear_ti
from dagflow.serialization.objects import SerializedDag


def clear_task_instance(session: Session, dag: SerializedDag, ti: TaskInstance) -> bool:
    """Clear ``ti`` with its task's ``retries`` from ``dag`` (see ``clear_ti``); False if nothing changed."""
    task = dag.tasks.get(ti.task_id)
    return clear_ti(session, ti, retries=task.retries if task is not None else None)
