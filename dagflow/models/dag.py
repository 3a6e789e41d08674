"""DAGs as the DAG processor last saw them: ``dag`` (one row per DAG) and ``serialized_dag``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import ID_LEN, Base, JSONText, UTCDateTime, utcnow


class DagModel(Base):
    """One DAG: where it lives, whether it is paused or active, and when it next runs.

    The ``next_dagrun*`` fields are kept up to date by the scheduler so that deciding
    whether a DAG is due never scans the run history.
    """

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    fileloc: Mapped[str | None] = mapped_column(sa.String(2000), index=True)
    is_paused: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    owners: Mapped[str | None] = mapped_column(sa.String(2000))
    description: Mapped[str | None] = mapped_column(sa.Text)
    tags: Mapped[list[str] | None] = mapped_column(JSONText)
    schedule_description: Mapped[str | None] = mapped_column(sa.String(1000))
    timetable_summary: Mapped[str | None] = mapped_column(sa.String(1000))
    max_active_runs: Mapped[int | None] = mapped_column()
    max_active_tasks: Mapped[int | None] = mapped_column()
    has_import_errors: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    last_parsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun_data_interval_start: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun_data_interval_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_dagrun_create_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The DAG's ``access_control`` (``{role: [actions]}``); NULL: every role as its global permissions say.
    access_control: Mapped[dict[str, list[str]] | None] = mapped_column(JSONText)

    __table_args__ = (
        # The scheduler's "which DAGs are due" query.
        sa.Index("ix_dag_next_dagrun_create_after", "is_paused", "is_active", "next_dagrun_create_after"),
    )


class SerializedDagModel(Base):
    """The latest serialized form (JSON) of one DAG; ``dag_hash`` says whether it changed."""

    __tablename__ = "serialized_dag"

    dag_id: Mapped[str] = mapped_column(sa.String(ID_LEN), primary_key=True)
    fileloc: Mapped[str] = mapped_column(sa.String(2000), index=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONText)
    dag_hash: Mapped[str] = mapped_column(sa.String(64))
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    processor_subdir: Mapped[str | None] = mapped_column(sa.String(2000))


class DagCode(Base):
    """The source text of a DAG file as the DAG processor last read it (``GET /dagSources``), keyed by its path's hash."""

    __tablename__ = "dag_code"

    fileloc_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    fileloc: Mapped[str] = mapped_column(sa.String(2000))
    source_code: Mapped[str] = mapped_column(sa.Text)
    source_hash: Mapped[str] = mapped_column(sa.String(64))
    last_updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DagFile(Base):
    """One DAG file as its last parse saw it: the stamp that says whether it changed, and how the parse went.

    Written by every DAG processor pass (the long-running one and the CLI's own), so a
    CLI call skips files that did not change since any process last parsed them, and
    ``dags report`` shows the parse time per file.
    """

    __tablename__ = "dag_file"

    fileloc: Mapped[str] = mapped_column(sa.String(2000), primary_key=True)
    mtime_ns: Mapped[int] = mapped_column(sa.BigInteger)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    digest: Mapped[str] = mapped_column(sa.String(64))
    last_parsed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    parse_duration: Mapped[float | None] = mapped_column(sa.Float)
    dag_count: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    #: The parse failed (an import error, a timeout): ``import_error`` has the message.
    has_error: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    #: JSON list of ``[path, mtime_ns, size, digest]``: the files under the DAG folders its parse
    #: imported (helper modules); a change to one of them re-parses this file.
    imports: Mapped[str | None] = mapped_column(sa.Text)
