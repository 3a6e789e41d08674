"""A DAG's access_control on its ``dag`` row; the source of DAG files (``dag_code``) for ``GET /dagSources``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("dag") as batch:
        batch.add_column(sa.Column("access_control", sa.Text(), nullable=True))
    op.create_table(
        "dag_code",
        sa.Column("fileloc_hash", sa.String(length=64), nullable=False),
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("source_code", sa.Text(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("last_updated", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("fileloc_hash", name=op.f("pk_dag_code")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("dag_code")
    with op.batch_alter_table("dag") as batch:
        batch.drop_column("access_control")
