"""The SequentialExecutor: one try at a time, run to the end inside ``submit`` (debugging).

Each try still forks its own process group (timeouts kill whole trees), but the
scheduler waits for it: nothing runs in parallel, and a breakpoint or a print in the
scheduler's terminal shows exactly what happens in which order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagflow.executors.inline import InlineExecutor

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database


class SequentialExecutor(InlineExecutor):
    """Runs one workload at a time, synchronously, through ``run_workload``."""

    def __init__(self, settings: Settings, *, db: Database | None = None, parallelism: int | None = None) -> None:
        super().__init__(settings, db=db, fork=True)
