"""Database lifecycle seen from the user's side: make sure the schema is there."""

from __future__ import annotations

from dagflow.db import Database
from dagflow.exceptions import DatabaseError


def ensure_schema(db: Database) -> None:
    """Create the schema in a brand-new database; refuse one at another revision."""
    current = db.current_revision()
    if current is None:
        db.migrate()
        return
    head = db.head_revision()
    if current != head:
        raise DatabaseError(
            f"the metadata database is at revision {current}, this dagflow needs {head}: run `dagflow db migrate`"
        )
