"""Pool services: create or resize, list with their usage, delete (never ``default_pool``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import DagflowError, InvalidInput, PoolNotFound
from dagflow.models import DEFAULT_POOL_NAME, Pool, TaskInstance
from dagflow.models.pool import UNLIMITED_SLOTS
from dagflow.services import events
from dagflow.services.database import ensure_schema
from dagflow.state import OCCUPYING_SLOT, TaskInstanceState


class PoolInUse(DagflowError, ValueError):
    """The pool cannot be deleted (``default_pool``)."""


@dataclass(frozen=True)
class PoolRecord:
    """A pool and how many of its slots are taken (``slots``/``open_slots`` -1: unlimited)."""

    pool: str
    slots: int
    description: str | None
    running: int
    queued: int
    scheduled: int
    open_slots: int
    include_deferred: bool
    #: Deferred task instances in the pool (they hold slots only with ``include_deferred``).
    deferred: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The row as the CLI prints it."""
        return asdict(self)


def set_pool(db: Database, name: str, slots: int, *, description: str | None = None) -> PoolRecord:
    """Create a pool or change its slots (and description, when given); returns it."""
    if slots < UNLIMITED_SLOTS:
        raise InvalidInput(f"pool {name!r}: slots must be 0 or more, or -1 for unlimited, got {slots}")
    ensure_schema(db)
    with db.transaction() as session:
        pool = session.get(Pool, name)
        if pool is None:
            pool = Pool(name=name, slots=slots, description=description)
            session.add(pool)
        else:
            pool.slots = slots
            if description is not None:
                pool.description = description
        events.record(session, "set_pool", extra={"pool": name, "slots": slots})
        session.flush()
        return _row(session, pool)


def get_pool(db: Database, name: str) -> PoolRecord:
    """One pool with its usage; ``PoolNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        pool = session.get(Pool, name)
        if pool is None:
            raise PoolNotFound(f"pool {name!r} does not exist")
        return _row(session, pool)


def list_pools(db: Database) -> list[PoolRecord]:
    """Every pool, by name, with its slots and how many are used."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return [_row(session, pool) for pool in session.scalars(sa.select(Pool).order_by(Pool.name))]


def delete_pool(db: Database, name: str) -> None:
    """Delete a pool; ``default_pool`` cannot be deleted, a missing pool is ``PoolNotFound``."""
    if name == DEFAULT_POOL_NAME:
        raise PoolInUse(f"{DEFAULT_POOL_NAME!r} cannot be deleted (set its slots instead)")
    ensure_schema(db)
    with db.transaction() as session:
        deleted = session.execute(sa.delete(Pool).where(Pool.name == name)).rowcount  # type: ignore[attr-defined]
        if not deleted:
            raise PoolNotFound(f"pool {name!r} does not exist")
        events.record(session, "delete_pool", extra={"pool": name})


def _row(session: Session, pool: Pool) -> PoolRecord:
    usage = dict(
        session.execute(
            sa.select(TaskInstance.state, sa.func.coalesce(sa.func.sum(TaskInstance.pool_slots), 0))
            .where(
                TaskInstance.pool == pool.name,
                TaskInstance.state.in_([*OCCUPYING_SLOT, TaskInstanceState.SCHEDULED, TaskInstanceState.DEFERRED]),
            )
            .group_by(TaskInstance.state)
        ).all()
    )
    running = int(usage.get(TaskInstanceState.RUNNING, 0))
    queued = int(usage.get(TaskInstanceState.QUEUED, 0))
    deferred = int(usage.get(TaskInstanceState.DEFERRED, 0))
    held = running + queued + (deferred if pool.include_deferred else 0)
    return PoolRecord(
        pool=pool.name,
        slots=pool.slots,
        description=pool.description,
        running=running,
        queued=queued,
        scheduled=int(usage.get(TaskInstanceState.SCHEDULED, 0)),
        open_slots=UNLIMITED_SLOTS if pool.slots == UNLIMITED_SLOTS else pool.slots - held,
        include_deferred=pool.include_deferred,
        deferred=deferred,
    )
