"""Connection services: add (from an Airflow-style URI or from fields), get, list, delete.

Passwords and extras are stored encrypted with the fernet key (``dagflow.secrets``).
They are never returned unless asked (``show_password``): otherwise the password and
every extra value under a sensitive key (``token``, ``api_key``, ...) read ``***``, in
the fields and in the URI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import AlreadyExists, ConnectionNotFound, InvalidInput
from dagflow.models import Connection
from dagflow.models.connection import connection_uri
from dagflow.secrets.fernet import FernetCipher
from dagflow.secrets.masker import MASK, SecretsMasker
from dagflow.services import events
from dagflow.services.database import ensure_schema


class InvalidConnection(InvalidInput):
    """A connection URI or field that cannot be parsed."""


def connection_from_uri(conn_id: str, uri: str, *, description: str | None = None) -> Connection:
    """Parse ``type://login:password@host:port/schema?extra`` (``urllib.parse``); values in plain text."""
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
    conn = Connection(
        conn_id=conn_id,
        conn_type=fields["conn_type"],
        host=fields.get("host"),
        schema=fields.get("schema"),
        login=fields.get("login"),
        port=fields.get("port"),
        description=fields.get("description"),
    )
    conn.set_password(fields.get("password"), None)
    conn.set_extra(extra or None, None)
    return conn


def add_connection(db: Database, connection: Connection) -> ConnectionRecord:
    """Store a new connection, password and extras encrypted; ``AlreadyExists`` if the id is taken.

    Returns it with its secrets masked.
    """
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    password, extra = connection.get_password(cipher), connection.get_extra(cipher)
    connection.set_password(password, cipher)
    connection.set_extra(extra or None, cipher)
    with db.transaction() as session:
        if session.get(Connection, connection.conn_id) is not None:
            raise AlreadyExists(f"connection {connection.conn_id!r} exists already (delete it first)")
        session.add(connection)
        events.record(
            session, "add_connection", extra={"conn_id": connection.conn_id, "conn_type": connection.conn_type}
        )
        session.flush()
        return connection_row(connection, cipher, show_password=False, sensitive_names=_names(db))


def update_connection(db: Database, connection: Connection, *, keep_password: bool = False) -> ConnectionRecord:
    """Replace a stored connection's fields in one transaction; ``keep_password`` keeps the stored password.

    ``ConnectionNotFound`` if it does not exist. Returns it with its secrets masked.
    """
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    with db.transaction() as session:
        row = session.get(Connection, connection.conn_id)
        if row is None:
            raise ConnectionNotFound(f"connection {connection.conn_id!r} does not exist")
        password = row.get_password(cipher) if keep_password else connection.get_password(cipher)
        for name in ("conn_type", "host", "schema", "login", "port", "description"):
            setattr(row, name, getattr(connection, name))
        row.set_password(password, cipher)
        row.set_extra(connection.get_extra(cipher) or None, cipher)
        events.record(session, "edit_connection", extra={"conn_id": row.conn_id, "conn_type": row.conn_type})
        session.flush()
        return connection_row(row, cipher, show_password=False, sensitive_names=_names(db))


def get_connection(db: Database, conn_id: str, *, show_password: bool = False) -> ConnectionRecord:
    """One connection; ``ConnectionNotFound`` if missing."""
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    with db.transaction(readonly=True) as session:
        row = session.get(Connection, conn_id)
        if row is None:
            raise ConnectionNotFound(f"connection {conn_id!r} does not exist")
        return connection_row(row, cipher, show_password=show_password, sensitive_names=_names(db))


def list_connections(db: Database, *, show_password: bool = False) -> list[ConnectionRecord]:
    """Every connection by id."""
    ensure_schema(db)
    cipher = FernetCipher(db.settings)
    with db.transaction(readonly=True) as session:
        rows = session.scalars(sa.select(Connection).order_by(Connection.conn_id))
        return [connection_row(c, cipher, show_password=show_password, sensitive_names=_names(db)) for c in rows]


def delete_connection(db: Database, conn_id: str) -> None:
    """Delete a connection; ``ConnectionNotFound`` if missing."""
    ensure_schema(db)
    with db.transaction() as session:
        result = session.execute(sa.delete(Connection).where(Connection.conn_id == conn_id))
        if not result.rowcount:  # type: ignore[attr-defined]
            raise ConnectionNotFound(f"connection {conn_id!r} does not exist")
        events.record(session, "delete_connection", extra={"conn_id": conn_id})


@dataclass(frozen=True)
class ConnectionRecord:
    """A connection, decrypted; ``password`` (and sensitive extras, also in ``uri``) read ``***`` unless shown."""

    conn_id: str
    description: str | None
    conn_type: str
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None
    extra: Any
    uri: str

    def to_dict(self) -> dict[str, Any]:
        """The document the CLI prints."""
        return asdict(self)


def connection_row(
    conn: Connection, cipher: FernetCipher, *, show_password: bool, sensitive_names: str = ""
) -> ConnectionRecord:
    """A connection, decrypted; unless asked, the password and the extras under
    sensitive keys (``sensitive_names`` adds to the built-in ones) read ``***``, also in the URI."""
    password, extra = conn.get_password(cipher), conn.get_extra(cipher)
    if not show_password:
        masker = SecretsMasker(sensitive_names)
        masker.add(password)  # also where an extra repeats it (a DSN)
        password = MASK if password is not None else None
        extra = masker.redact(extra)
    fields: dict[str, Any] = {
        "conn_type": conn.conn_type,
        "host": conn.host,
        "schema": conn.schema,
        "login": conn.login,
        "password": password,
        "port": conn.port,
    }
    uri = connection_uri(**fields, extra=extra)
    if not show_password and password is not None:
        uri = uri.replace(f":{MASK.replace('*', '%2A')}@", f":{MASK}@", 1)
    return ConnectionRecord(conn.conn_id, conn.description, **fields, extra=extra, uri=uri)


def _names(db: Database) -> str:
    return db.settings.core.sensitive_var_conn_names
