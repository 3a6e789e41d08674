"""The source of each DAG file, as the DAG processor last read it (Airflow's ``dag_code``): the UI's code view."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, UTCDateTime, utcnow


class DagCode(Base):
    """One DAG file's text and its SHA-256 (a re-parse of an unchanged file writes nothing)."""

    __tablename__ = "dag_code"

    fileloc: Mapped[str] = mapped_column(sa.String(2000), primary_key=True)
    source_hash: Mapped[str] = mapped_column(sa.String(64))
    source_code: Mapped[str] = mapped_column(sa.Text)
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
