"""Variable services: set, get (as text or parsed JSON), list and delete.

Values are stored encrypted with the fernet key (``dagflow.secrets``), as Airflow does
when a key is set; ``list`` shows keys and descriptions only, never values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import DagflowError, VariableNotFound
from dagflow.models import Variable
from dagflow.secrets.fernet import FernetCipher
from dagflow.services import events
from dagflow.services.database import ensure_schema

_MISSING: Any = object()


class VariableNotJson(DagflowError, ValueError):
    """A variable read as JSON does not hold valid JSON."""


def set_variable(
    db: Database, key: str, value: Any, *, serialize_json: bool = False, description: str | None = None
) -> None:
    """Create or replace a variable; with ``serialize_json`` the value is stored as JSON text."""
    text = json.dumps(value) if serialize_json else str(value)
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    with db.transaction() as session:
        events.record(session, "set_variable", extra={"key": key})  # never the value
        row = session.get(Variable, key)
        if row is None:
            row = Variable(key=key, description=description)
            row.set_val(text, cipher)
            session.add(row)
            return
        row.set_val(text, cipher)
        if description is not None:
            row.description = description


def get_variable(db: Database, key: str, *, deserialize_json: bool = False, default: Any = _MISSING) -> Any:
    """A variable's value (parsed JSON when asked); ``default`` or ``VariableNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        row = session.get(Variable, key)
        text = None if row is None else row.get_val(FernetCipher(db.settings))
    if row is None:
        if default is not _MISSING:
            return default
        raise VariableNotFound(f"variable {key!r} does not exist")
    if not deserialize_json or text is None:
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise VariableNotJson(f"variable {key!r} is not valid JSON ({exc.msg})") from exc


@dataclass(frozen=True)
class VariableRecord:
    """A variable's key and description; its (decrypted) value only when it was asked for."""

    key: str
    description: str | None
    value: str | None = None


def list_variables(db: Database, *, with_values: bool = False) -> list[VariableRecord]:
    """Every variable by key, with its description (and its value with ``with_values``; people's
    lists show keys only, as in Airflow)."""
    ensure_schema(db)
    cipher = FernetCipher(db.settings) if with_values else None
    with db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(Variable).order_by(Variable.key))
        return [VariableRecord(v.key, v.description, v.get_val(cipher) if cipher else None) for v in rows]


def get_variable_record(db: Database, key: str) -> VariableRecord:
    """One variable with its value and description; ``VariableNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        row = session.get(Variable, key)
        if row is None:
            raise VariableNotFound(f"variable {key!r} does not exist")
        return VariableRecord(row.key, row.description, row.get_val(FernetCipher(db.settings)))


def delete_variable(db: Database, key: str) -> None:
    """Delete a variable; ``VariableNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction() as session:
        result = session.execute(sa.delete(Variable).where(Variable.key == key))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise VariableNotFound(f"variable {key!r} does not exist")
        events.record(session, "delete_variable", extra={"key": key})
