"""DAG runs say who made them (``triggered_by``); DAG files keep their last parse stamp (``dag_file``).

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("triggered_by", sa.String(length=50), nullable=True))
    op.create_table(
        "dag_file",
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("last_parsed_at", UTC_DATETIME, nullable=False),
        sa.Column("parse_duration", sa.Float(), nullable=True),
        sa.Column("dag_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("has_error", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("fileloc", name=op.f("pk_dag_file")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("dag_file")
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("triggered_by")
