"""Connection services: add (from an Airflow-style URI or from fields), get, list, delete.

Passwords are never returned unless asked (``show_password``); otherwise they read
``***`` in the fields and in the URI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import AlreadyExists, ConnectionNotFound, InvalidInput
from dagflow.models import Connection
from dagflow.services.database import ensure_schema

MASK = "***"


class InvalidConnection(InvalidInput):
    """A connection URI or field that cannot be parsed."""


def connection_from_uri(conn_id: str, uri: str, *, description: str | None = None) -> Connection:
    """Parse ``type://login:password@host:port/schema?extra`` (``urllib.parse``)."""
    try:
        return Connection.from_uri(conn_id, uri, description=description)
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidConnection(f"invalid connection URI: {exc}") from exc


def connection_from_fields(conn_id: str, fields: Mapping[str, Any]) -> Connection:
    """Build a connection from ``conn_type``, ``host``, ``login``, ... (``extra`` a JSON object text)."""
    extra = fields.get("extra")
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except json.JSONDecodeError as exc:
            raise InvalidConnection(f"connection extra is not valid JSON ({exc.msg})") from exc
        if not isinstance(extra, dict):
            raise InvalidConnection("connection extra must be a JSON object")
    return Connection(
        conn_id=conn_id,
        conn_type=fields["conn_type"],
        host=fields.get("host"),
        schema=fields.get("schema"),
        login=fields.get("login"),
        password=fields.get("password"),
        port=fields.get("port"),
        extra=extra or None,
        description=fields.get("description"),
    )


def add_connection(db: Database, connection: Connection) -> dict[str, Any]:
    """Store a new connection; ``AlreadyExists`` if the id is taken. Returns it, password masked."""
    ensure_schema(db)
    with db.transaction() as session:
        if session.get(Connection, connection.conn_id) is not None:
            raise AlreadyExists(f"connection {connection.conn_id!r} exists already (delete it first)")
        session.add(connection)
        session.flush()
        return connection_row(connection, show_password=False)


def get_connection(db: Database, conn_id: str, *, show_password: bool = False) -> dict[str, Any]:
    """One connection; ``ConnectionNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        row = session.get(Connection, conn_id)
        if row is None:
            raise ConnectionNotFound(f"connection {conn_id!r} does not exist")
        return connection_row(row, show_password=show_password)


def list_connections(db: Database, *, show_password: bool = False) -> list[dict[str, Any]]:
    """Every connection by id."""
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(Connection).order_by(Connection.conn_id))
        return [connection_row(c, show_password=show_password) for c in rows]


def delete_connection(db: Database, conn_id: str) -> None:
    """Delete a connection; ``ConnectionNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction() as session:
        result = session.execute(sa.delete(Connection).where(Connection.conn_id == conn_id))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise ConnectionNotFound(f"connection {conn_id!r} does not exist")


def connection_row(conn: Connection, *, show_password: bool) -> dict[str, Any]:
    """A connection as a dict; the password (also inside the URI) masked unless asked."""
    hidden = conn.password is not None and not show_password
    password = MASK if hidden else conn.password
    uri_source = Connection(
        conn_id=conn.conn_id,
        conn_type=conn.conn_type,
        host=conn.host,
        schema=conn.schema,
        login=conn.login,
        password=password,
        port=conn.port,
        extra=conn.extra,
    )
    return {
        "conn_id": conn.conn_id,
        "conn_type": conn.conn_type,
        "description": conn.description,
        "host": conn.host,
        "schema": conn.schema,
        "login": conn.login,
        "password": password,
        "port": conn.port,
        "extra": dict(conn.extra or {}),
        "uri": _masked_uri(uri_source, hidden),
    }


def _masked_uri(conn: Connection, hidden: bool) -> str:
    uri = conn.get_uri()
    return uri.replace(":%2A%2A%2A@", f":{MASK}@", 1) if hidden else uri
