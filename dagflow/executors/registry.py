"""The executor named by ``core.executor``, found in the ``dagflow.executors`` entry-point group.

Adding an executor: write a ``BaseExecutor`` subclass (``executors/base.py`` says what
the scheduler calls) whose constructor takes ``(settings, *, db=None, parallelism=None)``,
and declare it in the group (``dagflow/plugins.py``). Nothing else names executors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagflow.exceptions import ConfigError
from dagflow.executors.base import BaseExecutor
from dagflow.plugins import executor_entry_points

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database


def executor_class(name: str) -> type[BaseExecutor]:
    """The executor class installed under ``name``; ``ConfigError`` in one line if it cannot be loaded."""
    points = executor_entry_points()
    point = points.get(name)
    if point is None:
        raise ConfigError(f"core.executor: unknown executor {name!r} (installed: {', '.join(sorted(points))})")
    try:
        loaded = point.load()
    except ImportError as exc:
        hint = " (pip install 'dagflow[celery]')" if name == "CeleryExecutor" else ""
        raise ConfigError(f"core.executor = {name} cannot be loaded{hint}: {exc}") from None
    if not (isinstance(loaded, type) and issubclass(loaded, BaseExecutor)):
        raise ConfigError(f"core.executor = {name}: {point.value} is not a BaseExecutor subclass")
    return loaded


def executor_from_settings(
    settings: Settings, *, db: Database | None = None, parallelism: int | None = None
) -> BaseExecutor:
    """A new (not yet started) executor of the configured kind."""
    return executor_class(settings.core.executor)(settings, db=db, parallelism=parallelism)
