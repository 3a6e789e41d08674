"""Variables, pools and connections to and from JSON documents, in Airflow's file formats.

- variables: ``{"key": value}``; a value that is not a string is stored as JSON (read it
  with ``var.json.key``); ``{"key": {"value": v, "description": "…"}}`` keeps a
  description (what the export writes for a variable that has one).
- pools: ``{"name": {"slots": n, "description": "…", "include_deferred": false}}``.
- connections: ``{"conn_id": {"conn_type", "description", "host", "login", "password",
  "schema", "port", "extra"}}`` (``extra`` a JSON text or an object), or a connection URI
  as the value.

Exports hold secrets in clear text (passwords, variable values), as Airflow's do: the CLI
writes them to a file only its owner can read. Imports are checked whole before anything
is written, then written in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dagflow.db import Database
from dagflow.exceptions import AlreadyExists, InvalidInput
from dagflow.models import Connection, Pool, Variable
from dagflow.models.pool import UNLIMITED_SLOTS
from dagflow.secrets.fernet import FernetCipher
from dagflow.services import events
from dagflow.services.connections import connection_from_fields, connection_from_uri
from dagflow.services.database import ensure_schema

#: ``variables import --action-on-existing-key``.
ON_EXISTING = ("overwrite", "fail", "skip")


@dataclass
class ImportReport:
    """What an import did: names written and names skipped (existing, not overwritten)."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _object(document: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise InvalidInput(f"{what} file must hold a JSON object (name: value), got {type(document).__name__}")
    return document


# --- variables -------------------------------------------------------------------------
def export_variables(db: Database) -> dict[str, Any]:
    """Every variable: the parsed JSON value when it is JSON, else the text; with its description if set."""
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    out: dict[str, Any] = {}
    with db.transaction(readonly=True) as session:
        for row in session.scalars(sa.select(Variable).order_by(Variable.key)):
            text = row.get_val(cipher)
            try:
                value: Any = json.loads(text) if text is not None else None
            except json.JSONDecodeError:
                value = text
            out[row.key] = {"value": value, "description": row.description} if row.description else value
    return out


def import_variables(db: Database, document: Any, *, on_existing: str = "overwrite") -> ImportReport:
    """Create or replace the variables of ``document`` (see the module doc); ``on_existing`` as Airflow's."""
    if on_existing not in ON_EXISTING:
        raise InvalidInput(f"action on existing key must be one of {', '.join(ON_EXISTING)}, got {on_existing!r}")
    items = _object(document, "variables")
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    report = ImportReport()
    with db.transaction() as session:
        existing = set(session.scalars(sa.select(Variable.key).where(Variable.key.in_(list(items)))))
        if on_existing == "fail" and existing:
            raise AlreadyExists(f"variable(s) exist already: {', '.join(sorted(existing))} (nothing imported)")
        for key, raw in items.items():
            if key in existing and on_existing == "skip":
                report.skipped.append(key)
                continue
            value, description = raw, None
            if isinstance(raw, Mapping) and "value" in raw and set(raw) <= {"value", "description"}:
                value, description = raw["value"], raw.get("description")
            text = value if isinstance(value, str) else json.dumps(value)
            row = session.get(Variable, key)
            if row is None:
                row = Variable(key=key)
                session.add(row)
            row.set_val(text, cipher)
            if description is not None:
                row.description = description
            report.written.append(key)
        _record_import(session, "import_variables", report)
    return report


# --- pools -----------------------------------------------------------------------------
def export_pools(db: Database) -> dict[str, Any]:
    """Every pool: slots, description, include_deferred."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        return {
            pool.name: {"slots": pool.slots, "description": pool.description, "include_deferred": pool.include_deferred}
            for pool in session.scalars(sa.select(Pool).order_by(Pool.name))
        }


def import_pools(db: Database, document: Any) -> ImportReport:
    """Create or update the pools of ``document``; every entry is checked before any is written."""
    items = _object(document, "pools")
    checked: dict[str, tuple[int, str | None, bool]] = {}
    for name, spec in items.items():
        if not isinstance(spec, Mapping) or "slots" not in spec:
            raise InvalidInput(f"pool {name!r}: expected an object with at least 'slots'")
        slots = spec["slots"]
        if isinstance(slots, bool) or not isinstance(slots, int) or slots < UNLIMITED_SLOTS:
            raise InvalidInput(f"pool {name!r}: slots must be an integer >= 0, or -1 for unlimited, got {slots!r}")
        checked[name] = (slots, spec.get("description"), bool(spec.get("include_deferred", False)))
    ensure_schema(db)
    report = ImportReport()
    with db.transaction() as session:
        for name, (slots, description, include_deferred) in checked.items():
            pool = session.get(Pool, name)
            if pool is None:
                pool = Pool(name=name)
                session.add(pool)
            pool.slots, pool.description, pool.include_deferred = slots, description, include_deferred
            report.written.append(name)
        _record_import(session, "import_pools", report)
    return report


# --- connections -----------------------------------------------------------------------
CONNECTION_KEYS = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")


def export_connections(db: Database) -> dict[str, Any]:
    """Every connection with its password and extra in clear (``extra`` as JSON text, as Airflow writes it)."""
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    out: dict[str, Any] = {}
    with db.transaction(readonly=True) as session:
        for conn in session.scalars(sa.select(Connection).order_by(Connection.conn_id)):
            extra = conn.get_extra(cipher)
            out[conn.conn_id] = {
                "conn_type": conn.conn_type,
                "description": conn.description,
                "host": conn.host,
                "login": conn.login,
                "password": conn.get_password(cipher),
                "schema": conn.schema,
                "port": conn.port,
                "extra": json.dumps(extra) if extra else None,
            }
    return out


def import_connections(db: Database, document: Any, *, overwrite: bool = False) -> ImportReport:
    """Add the connections of ``document``; existing ids are skipped unless ``overwrite``."""
    items = _object(document, "connections")
    parsed = {conn_id: _connection(conn_id, spec) for conn_id, spec in items.items()}
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    report = ImportReport()
    with db.transaction() as session:
        for conn_id, conn in parsed.items():
            existing = session.get(Connection, conn_id)
            if existing is not None and not overwrite:
                report.skipped.append(conn_id)
                continue
            if existing is not None:
                session.delete(existing)
                session.flush()
            password, extra = conn.get_password(None), conn.get_extra(None)
            conn.set_password(password, cipher)
            conn.set_extra(extra or None, cipher)
            session.add(conn)
            report.written.append(conn_id)
        _record_import(session, "import_connections", report)
    return report


def _record_import(session: Session, event: str, report: ImportReport) -> None:
    """One audit event per import, naming what it wrote and skipped (keys and ids only, never values)."""
    events.record(session, event, extra={"written": sorted(report.written), "skipped": sorted(report.skipped)})


def _connection(conn_id: str, spec: Any) -> Connection:
    if isinstance(spec, str):
        return connection_from_uri(conn_id, spec)
    if not isinstance(spec, Mapping):
        raise InvalidInput(f"connection {conn_id!r}: expected an object or a URI")
    unknown = set(spec) - set(CONNECTION_KEYS) - {"conn_id", "extra_dejson", "uri"}
    if unknown:
        raise InvalidInput(f"connection {conn_id!r}: unknown field(s) {', '.join(sorted(unknown))}")
    if spec.get("uri"):
        return connection_from_uri(conn_id, str(spec["uri"]), description=spec.get("description"))
    if not spec.get("conn_type"):
        raise InvalidInput(f"connection {conn_id!r}: conn_type is required")
    fields = {key: spec.get(key) for key in CONNECTION_KEYS}
    if fields["extra"] is None and isinstance(spec.get("extra_dejson"), Mapping):
        fields["extra"] = dict(spec["extra_dejson"])
    if fields["port"] is not None:
        try:
            fields["port"] = int(fields["port"])
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"connection {conn_id!r}: port must be an integer") from exc
    return connection_from_fields(conn_id, fields)
