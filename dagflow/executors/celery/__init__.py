"""The CeleryExecutor and its workers; the only place dagflow imports ``celery``.

- ``app``: the Celery app built from ``Settings`` and the task name ``dagflow.run_workload``.
- ``executor``: ``CeleryExecutor`` (scheduler side: publish, track, events, reconciliation).
- ``worker``: ``run_worker`` behind ``dagflow celery worker`` (warm prefork pool processes).
- ``flower``: ``run_flower`` behind ``dagflow celery flower``.

Importing this package needs the ``celery`` extra; it must not import the scheduler.
"""

from __future__ import annotations

from dagflow.executors.celery.executor import CeleryExecutor

__all__ = ["CeleryExecutor"]
