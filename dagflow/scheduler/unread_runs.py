"""Quiet runs a full pass neither locks nor reads (PostgreSQL): their task instances did not change.

A full pass used to lock every running run ``FOR UPDATE SKIP LOCKED`` (a tuple write each),
load it as an ORM object and read its task instances, only to find most of them quiet
(``quiet_runs``: the inputs read as when their plan was last empty). With a catchup of
hundreds of DAGs that is thousands of runs a second per scheduler, and a run locked by one
scheduler's pass is skipped by the other's event ticks meanwhile.

So on PostgreSQL a full pass first reads, without a lock, one row per running run: its key,
its DAG's ``dag_hash`` and a *digest* of its task instances (``id:xmin`` of each row, in id
order; ``xmin`` is the transaction that wrote the row's current version, so any update,
insert or delete changes the digest and none can bring an old one back). A run is left
out, unlocked and unread, when all of these hold:

- the last pass of this scheduler that examined it found it quiet (its plan empty, or its
  inputs as when it was) and read this same digest and DAG hash before its locked read;
- ``quiet_runs`` still holds it quiet now (a retry or reschedule coming due wakes it);
- that was less than ``REREAD_EVERY`` ago and the plan marker has not moved since
  (``models/plan_marker``: clears, marks, deletes, ``tasks disable``/``enable``);
- its DAG has no ``dagrun_timeout``, ``depends_on_past`` or ``wait_for_downstream`` (inputs
  outside the run's own rows) and is small (``ti_reads.SMALL_RUN_TASKS``, no mapped task).

Only the other runs are locked (``tick.running_runs_by_pk``) and planned as before: the
locked read sees what committed after this digest, so a plan is never made from it. The
digest can only make a run be read when it need not be (a vacuum freezing a row), never
the reverse. SQLite has one scheduler and no ``xmin``: every full pass reads every run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.models import DagModel, DagRun, SerializedDagModel, TaskInstance
from dagflow.scheduler import quiet_runs
from dagflow.scheduler.run_lifecycle import unpaused_or_backfill
from dagflow.scheduler.ti_reads import SMALL_RUN_TASKS
from dagflow.serialization import SerializedDag
from dagflow.state import DagRunState

#: How long a run may stay unread on the strength of its digest (then one pass reads it again).
REREAD_EVERY = timedelta(seconds=10)

_TIS = TaskInstance.__table__
_RUNS = DagRun.__table__
_ROW_DIGEST = sa.cast(_TIS.c.id, sa.Text) + ":" + sa.cast(sa.literal_column("task_instance.xmin"), sa.Text)
_DIGESTS = (
    sa.select(
        _RUNS.c.id,
        SerializedDagModel.dag_hash,
        sa.func.string_agg(_ROW_DIGEST, sa.literal_column("',' ORDER BY task_instance.id")),
    )
    .select_from(_RUNS)
    .join(DagModel, DagModel.dag_id == _RUNS.c.dag_id)
    .outerjoin(SerializedDagModel, SerializedDagModel.dag_id == _RUNS.c.dag_id)
    .outerjoin(_TIS, sa.and_(_TIS.c.dag_id == _RUNS.c.dag_id, _TIS.c.run_id == _RUNS.c.run_id))
    .where(_RUNS.c.state == DagRunState.RUNNING, unpaused_or_backfill())
    .group_by(_RUNS.c.id, SerializedDagModel.dag_hash)
    .order_by(_RUNS.c.logical_date, _RUNS.c.id)
)

Digest = tuple[str | None, str | None]


@dataclass
class _Seen:
    digest: Digest
    until: datetime  # found quiet + ``reread_every`` (computed once: pendulum's ``+`` is slow)


class UnreadRuns:
    """Per running run, the digest under which this scheduler last found it quiet (module docstring)."""

    def __init__(self, *, reread_every: timedelta = REREAD_EVERY) -> None:
        self.reread_every = reread_every
        self._seen: dict[int, _Seen] = {}
        self._read: dict[int, Digest] = {}
        self._marker: str | None = None

    def to_examine(self, session: Session, *, now: datetime, marker: str | None) -> tuple[list[int], list[int]]:
        """The running runs to lock and plan, oldest first, and the quiet ones left unread (primary keys)."""
        if marker is None or marker != self._marker:
            self._seen.clear()
            self._marker = marker
        rows = session.execute(_DIGESTS).all()
        self._read = {pk: (dag_hash, digest) for pk, dag_hash, digest in rows}
        for pk in set(self._seen) - set(self._read):
            del self._seen[pk]  # no longer running
        examine: list[int] = []
        unread: list[int] = []
        for pk, dag_hash, digest in rows:
            seen = self._seen.get(pk)
            if (
                seen is not None
                and seen.digest == (dag_hash, digest)
                and now < seen.until
                and quiet_runs.quiet_now(pk, now)
            ):
                unread.append(pk)
            else:
                examine.append(pk)
        return examine, unread

    def examined(self, runs: Iterable[tuple[int, SerializedDag]], now: datetime) -> None:
        """After a full pass wrote its plans: the runs it examined that are quiet now stay unread next time.

        Quiet now (``quiet_runs``) means this pass found the run's inputs as when its plan was
        last empty, or its plan was empty; a run whose plan was dropped as stale (the plan
        marker moved: every run is read next pass) or not applied is not.
        """
        until = now + self.reread_every
        for pk, dag in runs:
            digest = self._read.get(pk)
            if digest is not None and may_stay_unread(dag) and quiet_runs.quiet_now(pk, now):
                self._seen[pk] = _Seen(digest, until)
            else:
                self._seen.pop(pk, None)

    def forget(self) -> None:
        """Read every run on the next pass (after a failed tick)."""
        self._seen.clear()
        self._read.clear()


def may_stay_unread(dag: SerializedDag) -> bool:
    """True if a run of ``dag`` depends on nothing but its own rows, its DAG version and the clock's wake-ups."""
    if dag.dagrun_timeout is not None or len(dag.tasks) > SMALL_RUN_TASKS:
        return False
    return not any(t.depends_on_past or t.wait_for_downstream or t.is_mapped for t in dag.tasks.values())
