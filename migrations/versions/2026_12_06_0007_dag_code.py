"""The source of each DAG file (``dag_code``), for the web UI's code view.

Revision ID: 0007
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "dag_code",
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("source_code", sa.Text(), nullable=False),
        sa.Column("last_updated", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fileloc", name=op.f("pk_dag_code")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("dag_code")
