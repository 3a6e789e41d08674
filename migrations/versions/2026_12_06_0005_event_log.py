"""The audit event log (Airflow's ``log`` table).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "event_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("when", UTC_DATETIME, nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=True),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("task_id", sa.String(length=250), nullable=True),
        sa.Column("map_index", sa.Integer(), nullable=True),
        sa.Column("try_number", sa.Integer(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_log")),
    )
    op.create_index("ix_event_log_when", "event_log", ["when"])
    op.create_index("ix_event_log_dag_id_when", "event_log", ["dag_id", "when"])
    op.create_index("ix_event_log_event", "event_log", ["event"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_event_log_event", table_name="event_log")
    op.drop_index("ix_event_log_dag_id_when", table_name="event_log")
    op.drop_index("ix_event_log_when", table_name="event_log")
    op.drop_table("event_log")
