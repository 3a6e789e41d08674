"""DAG parsing inside the scheduler process (unless ``scheduler.standalone_dag_processor``).

The scheduler runs a ``DagProcessor`` and calls ``scan_if_due(now)`` once per tick: it
returns in milliseconds, and the parsing itself happens in the processor's own
processes, so the scheduler never imports a DAG file and never blocks on a slow one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from dagflow.config import Settings
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.models.base import utcnow


class DagParsing(Protocol):
    """What the scheduler loop needs from a DAG parser: a cheap per-tick call."""

    def scan_if_due(self, now: datetime) -> Any:
        """Parse what changed, if it is time to look."""

    def stop(self) -> None:
        """Stop any parsing process."""


def dag_parsing(settings: Settings, db: Database, folders: Sequence[Path]) -> DagParsing:
    """The DAG processor, shaped for the scheduler loop; its parse server starts loading now."""
    processor = DagProcessor(settings, db, folders=list(folders))
    processor.prestart(utcnow())  # the first pass parses while the executor starts
    return _ProcessorAdapter(processor)


class _ProcessorAdapter:
    """Gives the DAG processor the ``stop()`` the loop calls at shutdown."""

    def __init__(self, processor: DagProcessor) -> None:
        self.processor = processor

    def scan_if_due(self, now: datetime) -> Any:
        """Delegate to the processor."""
        return self.processor.scan_if_due(now)

    def stop(self) -> None:
        """Stop the processor's parsing processes and close its job row."""
        self.processor.close()
