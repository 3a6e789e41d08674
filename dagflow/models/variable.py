"""Variables: global key → text values, read by DAGs as ``var.value.X`` / ``var.json.X``.

``val`` is stored encrypted when written through ``set_val`` with a cipher
(``is_encrypted``, Airflow's column); read it with ``get_val``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base
from dagflow.models.encrypted import Cipher, seal, unseal


class Variable(Base):
    """One variable; ``val`` is text (JSON when read through ``var.json``), or its fernet token."""

    __tablename__ = "variable"

    key: Mapped[str] = mapped_column(sa.String(250), primary_key=True)
    val: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    is_encrypted: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    def get_val(self, cipher: Cipher | None) -> str | None:
        """The value in clear text."""
        return unseal(self.val, self.is_encrypted, cipher, what=f"variable {self.key!r}")

    def set_val(self, value: str | None, cipher: Cipher | None) -> None:
        """Store ``value`` (encrypted when a cipher is given)."""
        self.val, self.is_encrypted = seal(value, cipher)
