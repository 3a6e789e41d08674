"""Variables: global key → text values, read by DAGs as ``var.value.X`` / ``var.json.X``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base


class Variable(Base):
    """One variable; ``val`` is text (JSON when read through ``var.json``)."""

    __tablename__ = "variable"

    key: Mapped[str] = mapped_column(sa.String(250), primary_key=True)
    val: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
