"""``/connections``: list, get, create, patch, delete; the password is write-only (never returned)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from dagflow.api.common import Body, ListQuery, api
from dagflow.exceptions import InvalidInput
from dagflow.services import connections as service
from dagflow.web.context import web_context

ERRORS = {404: "Not Found", 409: "Conflict", 422: "Invalid input"}


class ConnectionResponse(BaseModel):
    """A connection without its password, in Airflow 3's fields (``extra`` is JSON text)."""

    connection_id: str
    conn_type: str
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    port: int | None = None
    password: str | None = None
    extra: str | None = None

    model_config = {"populate_by_name": True}


class ConnectionCollectionResponse(BaseModel):
    """A page of connections."""

    connections: list[ConnectionResponse]
    total_entries: int


class ConnectionBody(Body):
    """``POST /connections`` and ``PATCH``."""

    connection_id: str = Field(min_length=1, max_length=250, pattern=r"^[\w.-]+$")
    conn_type: str = Field(min_length=1, max_length=500)
    description: str | None = None
    host: str | None = None
    login: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    port: int | None = Field(default=None, ge=0, le=65535)
    password: str | None = None
    extra: str | None = None

    model_config = {"populate_by_name": True, "extra": "forbid"}


def _response(row: service.ConnectionRecord) -> ConnectionResponse:
    return ConnectionResponse(
        connection_id=row.conn_id,
        conn_type=row.conn_type,
        description=row.description,
        host=row.host,
        login=row.login,
        schema=row.schema,
        port=row.port,
        password=None,
        extra=json.dumps(row.extra) if row.extra else None,
    )


def _fields(body: ConnectionBody) -> dict[str, Any]:
    return {
        "conn_type": body.conn_type,
        "description": body.description,
        "host": body.host,
        "login": body.login,
        "schema": body.schema_,
        "port": body.port,
        "password": body.password,
        "extra": body.extra,
    }


@api.get("/connections")
@api.input(ListQuery, location="query", arg_name="query")
@api.output(ConnectionCollectionResponse)
@api.doc(tags=["Connection"])
def get_connections(query: ListQuery) -> ConnectionCollectionResponse:
    """List connections (passwords are never returned)."""
    rows = service.list_connections(web_context().db)
    part = query.slice()
    page = rows[part.offset : part.offset + part.limit]
    return ConnectionCollectionResponse(connections=[_response(r) for r in page], total_entries=len(rows))


@api.get("/connections/<connection_id>")
@api.output(ConnectionResponse)
@api.doc(tags=["Connection"], responses=ERRORS)
def get_connection(connection_id: str) -> ConnectionResponse:
    """One connection, without its password."""
    return _response(service.get_connection(web_context().db, connection_id))


@api.post("/connections")
@api.input(ConnectionBody, arg_name="body")
@api.output(ConnectionResponse, status_code=201)
@api.doc(tags=["Connection"], responses=ERRORS)
def post_connection(body: ConnectionBody) -> ConnectionResponse:
    """Create a connection (409 if the id is taken)."""
    connection = service.connection_from_fields(body.connection_id, _fields(body))
    return _response(service.add_connection(web_context().db, connection))


@api.patch("/connections/<connection_id>")
@api.input(ConnectionBody, arg_name="body")
@api.output(ConnectionResponse)
@api.doc(tags=["Connection"], responses=ERRORS)
def patch_connection(connection_id: str, body: ConnectionBody) -> ConnectionResponse:
    """Replace a connection's fields (a missing password keeps the stored one)."""
    if body.connection_id != connection_id:
        raise InvalidInput("the connection_id in the body must be the one in the path")
    db = web_context().db
    current = service.get_connection(db, connection_id, show_password=True)
    fields = _fields(body)
    if body.password is None:
        fields["password"] = current.password
    connection = service.connection_from_fields(connection_id, fields)
    service.delete_connection(db, connection_id)
    return _response(service.add_connection(db, connection))


@api.delete("/connections/<connection_id>")
@api.output({}, status_code=204)
@api.doc(tags=["Connection"], responses=ERRORS)
def delete_connection(connection_id: str) -> tuple[str, int]:
    """Delete a connection."""
    service.delete_connection(web_context().db, connection_id)
    return "", 204
