"""Row locks for several schedulers: ``FOR UPDATE SKIP LOCKED`` where the database has it.

On PostgreSQL two schedulers selecting the same candidate rows (due DAGs, scheduled
task instances) each get a disjoint share; the loser simply does not see the locked
rows this tick. SQLite has one writer at a time (``BEGIN IMMEDIATE``) and refuses a
second scheduler, so the clause is left out there.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

S = TypeVar("S", bound=Select)  # type: ignore[type-arg]


def skip_locked(session: Session, query: S, *of: Any) -> S:
    """``query`` with ``FOR UPDATE SKIP LOCKED`` (of the given tables) on PostgreSQL."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return query
    return query.with_for_update(skip_locked=True, of=list(of) or None)
