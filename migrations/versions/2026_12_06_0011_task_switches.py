"""Task switches: tasks disabled for one run or for every run to come (``tasks disable``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "task_switch",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("task_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("disabled_by", sa.String(256), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("idx_task_switch_dag", "task_switch", ["dag_id", "run_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("idx_task_switch_dag", table_name="task_switch")
    op.drop_table("task_switch")
