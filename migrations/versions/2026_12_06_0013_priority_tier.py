"""Task instances carry their priority tier (``task_instance.priority_tier``), the first key of the queueing order.

The highest ``priority_weight`` set on the task or on the tasks its ``weight_rule`` counts
(docs/scheduling.md, "The order of queueing"). Existing rows get 1, the default weight.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("priority_tier", sa.Integer(), nullable=False, server_default=sa.text("1")))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("priority_tier")
