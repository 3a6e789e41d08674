"""Executors: where workloads run (inline, sequential, local process pool, Celery).

An executor knows how to start ``dagflow.execution.run_workload`` somewhere and report
back ``TaskEvent``s; it never touches ORM objects or the scheduler. ``celery`` is
imported in one module only.
"""

from __future__ import annotations

from dagflow.executors.base import BaseExecutor, TaskEvent

__all__ = ["BaseExecutor", "TaskEvent"]
