"""Import errors: DAG files that failed to parse, with where and why."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, UTCDateTime, utcnow


class ImportError_(Base):  # noqa: N801  (trailing underscore: not the builtin)
    """The latest parse failure of one DAG file."""

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(sa.String(2000), index=True)
    lineno: Mapped[int | None] = mapped_column()
    message: Mapped[str] = mapped_column(sa.Text)
    stacktrace: Mapped[str | None] = mapped_column(sa.Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
