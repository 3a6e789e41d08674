"""Airflow 2's TaskFlow decorators (``airflow.decorators``)."""

from __future__ import annotations

from airflow._compat import task
from dagflow.sdk import dag, task_group
from dagflow.sdk.decorators import setup, teardown

__all__ = ["dag", "setup", "task", "task_group", "teardown"]
