"""Pools: named sets of slots that limit how many task instances run at once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base

#: The pool every task uses unless it names another; created by the initial migration.
DEFAULT_POOL_NAME = "default_pool"
DEFAULT_POOL_SLOTS = 128
#: A pool with ``slots = -1`` limits nothing (Airflow's "infinite" pool).
UNLIMITED_SLOTS = -1


class Pool(Base):
    """A pool of ``slots`` (-1: unlimited); queued and running task instances occupy ``pool_slots`` each."""

    __tablename__ = "pool"

    name: Mapped[str] = mapped_column(sa.String(256), primary_key=True)
    slots: Mapped[int] = mapped_column(default=DEFAULT_POOL_SLOTS)
    description: Mapped[str | None] = mapped_column(sa.Text)
    #: Whether deferred task instances count against the slots too.
    include_deferred: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
