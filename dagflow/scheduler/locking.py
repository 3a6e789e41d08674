"""How several schedulers share one PostgreSQL database without doing anything twice.

Three tools, each used where a race is possible (``docs/scaling.md`` lists every site):

- ``skip_locked``: ``SELECT … FOR UPDATE SKIP LOCKED``. Two schedulers selecting the
  same candidate rows (due DAGs, queued runs, running runs to plan, backfills) each
  get a disjoint share; the loser simply does not see the locked rows this tick.
- ``critical_section``: a transaction-scoped advisory lock for the one step whose
  limits span many rows (queueing under pools, ``max_active_tasks`` and the
  executor's slots): schedulers take turns, each counting what the others committed.
- ``unless_exists``: an insert in a savepoint. Unique constraints are the last line of
  defence; a race lost to another scheduler, a trigger or a backfill rolls back only
  that insert, never the tick.

SQLite has one writer at a time (``BEGIN IMMEDIATE``) and refuses a second scheduler
(``job.py``), so the locks are left out there; the savepoint works on both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from dagflow.exceptions import AlreadyExists

log = logging.getLogger(__name__)
S = TypeVar("S", bound=Select)  # type: ignore[type-arg]
T = TypeVar("T")

#: Advisory lock key of the queueing step (``scheduled -> queued``): "dagqueue".
QUEUEING_LOCK = 0x6461677175657565


def is_postgresql(session: Session) -> bool:
    """True if ``session`` talks to PostgreSQL (row locks exist; SQLite has one write lock)."""
    return session.get_bind().dialect.name == "postgresql"


def skip_locked(session: Session, query: S, *of: Any) -> S:
    """``query`` with ``FOR UPDATE SKIP LOCKED`` (of the given tables) on PostgreSQL."""
    return skip_locked_if(is_postgresql(session), query, *of)


def skip_locked_if(postgresql: bool, query: S, *of: Any) -> S:
    """``skip_locked`` for a statement built once per dialect, before any session exists."""
    if not postgresql:
        return query
    return query.with_for_update(skip_locked=True, of=list(of) or None)


def critical_section(session: Session, key: int) -> None:
    """Wait for advisory lock ``key``, held until the transaction ends (PostgreSQL only).

    Take it right before the reads it protects: under READ COMMITTED each later
    statement sees what the previous holder committed.
    """
    if is_postgresql(session):
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def unless_exists(session: Session, insert: Callable[[], T], what: str) -> T | None:
    """``insert()`` in a savepoint; None (rolled back) if the row exists already.

    "Exists" is a unique-constraint ``IntegrityError`` at flush, or an ``AlreadyExists``
    the insert raised after looking first: someone else won the race.
    """
    try:
        with session.begin_nested():
            return insert()
    except (IntegrityError, AlreadyExists) as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        log.info("%s exists already (another scheduler or a trigger was first): %s", what, reason)
        return None
