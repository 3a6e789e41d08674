"""Variable services: set, get (as text or parsed JSON), list and delete.

Values are stored encrypted with the fernet key (``dagflow.secrets``), as Airflow does
when a key is set; ``list`` shows keys and descriptions only, never values.
"""

from __future__ import annotations

import json
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


def list_variables(db: Database) -> list[dict[str, Any]]:
    """Every variable's key and description (values are not listed, as in Airflow)."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(Variable).order_by(Variable.key))
        return [{"key": v.key, "description": v.description} for v in rows]


def delete_variable(db: Database, key: str) -> None:
    """Delete a variable; ``VariableNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction() as session:
        result = session.execute(sa.delete(Variable).where(Variable.key == key))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise VariableNotFound(f"variable {key!r} does not exist")
        events.record(session, "delete_variable", extra={"key": key})
