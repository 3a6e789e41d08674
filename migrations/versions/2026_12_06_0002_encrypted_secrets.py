"""Encrypted secrets: ``is_encrypted`` flags on connections and variables (Airflow's columns).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

Rows written before this revision keep their plain values with the flags false, and
stay readable; ``dagflow rotate-fernet-key`` encrypts them. ``connection.extra`` was
and stays text (JSON text, or its fernet token when ``is_extra_encrypted``).
Downgrading is refused while encrypted values exist: the older code would read the
tokens as if they were the passwords.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("connection") as batch:
        batch.add_column(sa.Column("is_encrypted", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("is_extra_encrypted", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("variable") as batch:
        batch.add_column(sa.Column("is_encrypted", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    """Revert this revision (only when no value is encrypted)."""
    bind = op.get_bind()
    encrypted = bind.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM connection WHERE is_encrypted OR is_extra_encrypted)"
            " + (SELECT count(*) FROM variable WHERE is_encrypted)"
        )
    ).scalar()
    if encrypted:
        raise RuntimeError(
            f"{encrypted} connection/variable rows hold encrypted values: the older schema cannot read them "
            "(delete or re-enter them in plain text before downgrading)"
        )
    with op.batch_alter_table("variable") as batch:
        batch.drop_column("is_encrypted")
    with op.batch_alter_table("connection") as batch:
        batch.drop_column("is_extra_encrypted")
        batch.drop_column("is_encrypted")
