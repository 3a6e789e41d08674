"""The plan marker: a token that every write able to make a scheduler's plan stale changes.

A scheduler tick reads and plans, then applies the plans (on SQLite in a later
transaction, on PostgreSQL in later statements of a READ COMMITTED one). The stale-plan
checks (``scheduler/stale_plans.py``) re-read rows to catch a write committed in between
that the applier's compare-and-set cannot see. Those writes are few:

- a task instance leaves ``none`` or a finished state (a clear, a mark, ``tasks run``),
  or a task instance or run is deleted;
- a run leaves ``running`` (marked, cleared, deleted);
- a task is switched off or on (``tasks disable``/``enable``): schedulers keep the switches
  they read while the marker stays (``scheduler/marker_watch.py``).

Each of them replaces the marker with a fresh random token in its own transaction, just
before it commits (``bump``; ``transitions.py`` does it for the state changes, the delete paths call it).
A tick reads the marker before its reads (``read``, or ``as_column`` on its first read) and
again in its write transaction: equal tokens mean no such write committed in between, so
the checks' reads are skipped.
A token rather than a counter: a deleted marker row cannot bring an old value back.

A tick's applying of its plans does not bump (``scheduler_session``): those writes come
before the scheduler's next read on SQLite (one scheduler per database), and on
PostgreSQL they touch only the runs it holds ``FOR UPDATE SKIP LOCKED``, which no other
scheduler plans. Its chores do (a backfill re-running a run clears it): the next read
then sees a moved marker and reads every run in full (``scheduler/marker_watch.py``).
Workers and the triggerer move task instances forward only (``queued``, ``running``,
``deferred`` ...), which never makes a plan wrong, so they do not bump either.

The marker is a row of the ``state_store`` table (no table of its own, no migration):
namespace ``__dagflow__``, key ``plan_marker``.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dagflow.models.base import utcnow
from dagflow.models.state_store import StateStoreEntry

NAMESPACE = "__dagflow__"  # hidden from unfiltered state-store listings (storage.state_store)
KEY = "plan_marker"
#: ``session.info`` key: this session is a scheduler tick's (it does not bump).
_SCHEDULER = "dagflow.plan_marker.scheduler"
#: ``session.info`` key: this session's transaction must bump the marker when it commits.
_PENDING = "dagflow.plan_marker.pending"

_TABLE: Any = StateStoreEntry.__table__
#: Plain SQL, constants only: read on every tick, so no statement to compile or cache-key.
_READ = f"SELECT value FROM state_store WHERE namespace = '{NAMESPACE}' AND \"key\" = '{KEY}'"


def read(session: Session) -> str:
    """The marker (its stored text) as committed now, or as of the snapshot on SQLite; "" if never bumped."""
    return value_of(session.connection().exec_driver_sql(_READ).scalar())


def as_column() -> Any:
    """The marker as a scalar subquery, to ride on another read as one more column (NULL: never bumped).

    Read in the same statement, it is read with that statement's snapshot: as early as a
    ``read`` just before it (``scheduler/tick.running_runs``).
    """
    return (
        sa.select(_TABLE.c.value)
        .where(_TABLE.c.namespace == NAMESPACE, _TABLE.c.key == KEY)
        .scalar_subquery()
        .label("plan_marker")
    )


def value_of(column: object) -> str:
    """The marker from ``as_column``'s value ("" if never bumped, as ``read``)."""
    return column if isinstance(column, str) else ""


def scheduler_session(session: Session) -> None:
    """Mark ``session`` as a scheduler tick's: its writes do not bump the marker (module docstring)."""
    session.info[_SCHEDULER] = True


def bump(session: Session) -> None:
    """Give the marker a fresh token when the session's transaction commits (once per transaction).

    Written just before the commit, not here: every writer then takes the marker row's lock
    last and holds it only until its commit, so two writers (two users clearing at once on
    PostgreSQL) never wait for each other in a cycle of row locks.
    """
    if not session.info.get(_SCHEDULER):
        session.info[_PENDING] = True


def _write_pending(session: Session) -> None:
    """``before_commit``: write the fresh token that ``bump`` asked for."""
    if not session.info.pop(_PENDING, False):
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    token = uuid.uuid4().hex
    stmt = insert(_TABLE).values(namespace=NAMESPACE, key=KEY, value=token, updated_at=now, version=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[_TABLE.c.namespace, _TABLE.c.key],
        set_={"value": token, "updated_at": now, "version": _TABLE.c.version + 1},
    )
    session.connection().execute(stmt)


def _drop_pending(session: Session) -> None:
    """``after_rollback``: a transaction rolled back changed nothing to tell."""
    session.info.pop(_PENDING, None)


event.listen(Session, "before_commit", _write_pending)
event.listen(Session, "after_rollback", _drop_pending)
