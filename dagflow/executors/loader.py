"""Pick the executor named by ``core.executor``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from dagflow.exceptions import ConfigError
from dagflow.executors.base import BaseExecutor

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database


def executor_from_settings(
    settings: Settings, *, db: Database | None = None, parallelism: int | None = None
) -> BaseExecutor:
    """A new (not yet started) executor of the configured kind."""
    name = settings.core.executor
    if name == "LocalExecutor":
        from dagflow.executors.local import LocalExecutor

        return LocalExecutor(settings, parallelism=parallelism)
    if name == "SequentialExecutor":
        from dagflow.executors.sequential import SequentialExecutor

        return SequentialExecutor(settings, db=db)
    if name == "CeleryExecutor":
        return _celery_executor(settings, db=db, parallelism=parallelism)
    raise ConfigError(f"core.executor: unknown executor {name!r}")


def _celery_executor(settings: Settings, *, db: Database | None, parallelism: int | None) -> BaseExecutor:
    try:
        celery = importlib.import_module("dagflow.executors.celery")
    except ImportError as exc:
        raise ConfigError(
            "core.executor = CeleryExecutor needs the celery extra: pip install 'dagflow[celery]' "
            f"(dagflow.executors.celery cannot be imported: {exc})"
        ) from None
    executor: BaseExecutor = celery.CeleryExecutor(settings, db=db, parallelism=parallelism)
    return executor
