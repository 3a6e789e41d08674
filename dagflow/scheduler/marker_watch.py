"""What a scheduler keeps between ticks while the plan marker (``models/plan_marker.py``) does not move.

A tick reads the marker before its plans' reads: on the running-runs query itself when
that query runs (``tick.running_runs``: one statement, not two), else on its own. If it
moved since the last tick's read, a write that can make a kept read wrong committed in
between (a clear, a mark, a ``tasks disable``), so everything kept is dropped:

- the task instances ``KnownTIs`` keeps (every run is read in full this tick);
- the task switches of ``tasks disable`` per DAG (``TaskSwitches``), read again.

A token read at the start of a tick is what its write transaction compares against
(``tick.apply_planned_runs``); ``seen`` is it.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from dagflow.scheduler.run_scheduling import SwitchRow, TaskSwitches
from dagflow.scheduler.ti_reads import KnownTIs


class MarkerWatch:
    """The plan marker as this scheduler's last tick read it, and the reads kept while it stays."""

    def __init__(self, known: KnownTIs) -> None:
        self.known = known
        #: The marker as the last tick read it (None: not read yet, or dropped after a failed tick).
        self.seen: str | None = None
        self._switches: dict[str, list[SwitchRow]] = {}

    def saw(self, marker: str) -> str:
        """This tick read ``marker`` before its plans' reads; if it moved, drop what is kept."""
        if marker != self.seen:
            self.known.forget()
            self._switches.clear()
            self.seen = marker
        return marker

    def forget(self) -> None:
        """Drop everything (a tick failed: what it kept may be of a rolled-back transaction)."""
        self.known.forget()
        self._switches.clear()
        self.seen = None

    def switches(self, session: Session, dag_ids: Iterable[str]) -> TaskSwitches:
        """The task switches of these DAGs: kept ones, the others read in one query (after ``saw``)."""
        wanted = set(dag_ids)
        missing = wanted - self._switches.keys()
        if missing:
            for dag_id in missing:
                self._switches[dag_id] = []
            for row in TaskSwitches.read(session, missing):
                self._switches[row[0]].append(row)
        return TaskSwitches(row for dag_id in sorted(wanted) for row in self._switches[dag_id])
