"""``/variables``: list, get, create, patch, delete; values of sensitive keys come back masked."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from dagflow.api.common import Body, ListQuery, api
from dagflow.exceptions import AlreadyExists, InvalidInput
from dagflow.services import variables as service
from dagflow.web.context import web_context

ERRORS = {404: "Not Found", 409: "Conflict", 422: "Invalid input"}
MASK = "***"
#: A key containing one of these names is sensitive (Airflow's default ``sensitive_var_conn_names``).
SENSITIVE_NAMES = (
    "access_token", "api_key", "apikey", "authorization", "passphrase", "passwd", "password",
    "private_key", "secret", "token", "keyfile_dict", "service_account",
)  # fmt: skip


def is_sensitive(key: str) -> bool:
    """True when the key names a secret (its value is never returned)."""
    lowered = key.lower()
    return any(name in lowered for name in SENSITIVE_NAMES)


class VariableResponse(BaseModel):
    """A variable, in Airflow 3's fields."""

    key: str
    value: str | None = None
    description: str | None = None
    is_encrypted: bool = False


class VariableCollectionResponse(BaseModel):
    """A page of variables."""

    variables: list[VariableResponse]
    total_entries: int


class VariableBody(Body):
    """``POST /variables`` and ``PATCH``: ``value`` any JSON (a non-string is stored as JSON text)."""

    key: str = Field(min_length=1, max_length=250)
    value: Any = None
    description: str | None = None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _response(key: str, value: str | None, description: str | None) -> VariableResponse:
    shown = MASK if is_sensitive(key) and value is not None else value
    return VariableResponse(key=key, value=shown, description=description)


def _one(key: str) -> VariableResponse:
    record = service.get_variable_record(web_context().db, key)
    return _response(record.key, record.value, record.description)


@api.get("/variables")
@api.input(ListQuery, location="query", arg_name="query")
@api.output(VariableCollectionResponse)
@api.doc(tags=["Variable"])
def get_variables(query: ListQuery) -> VariableCollectionResponse:
    """List variables (sensitive values masked)."""
    rows = service.list_variables(web_context().db, with_values=True)
    part = query.slice()
    page = rows[part.offset : part.offset + part.limit]
    items = [_response(r.key, r.value, r.description) for r in page]
    return VariableCollectionResponse(variables=items, total_entries=len(rows))


@api.get("/variables/<variable_key>")
@api.output(VariableResponse)
@api.doc(tags=["Variable"], responses=ERRORS)
def get_variable(variable_key: str) -> VariableResponse:
    """One variable (masked when its key is sensitive)."""
    return _one(variable_key)


@api.post("/variables")
@api.input(VariableBody, arg_name="body")
@api.output(VariableResponse, status_code=201)
@api.doc(tags=["Variable"], responses=ERRORS)
def post_variable(body: VariableBody) -> VariableResponse:
    """Create a variable (409 if the key is taken)."""
    db = web_context().db
    if service.get_variable(db, body.key, default=None) is not None:
        raise AlreadyExists(f"variable {body.key!r} exists already")
    service.set_variable(db, body.key, _text(body.value), description=body.description)
    return _one(body.key)


@api.patch("/variables/<variable_key>")
@api.input(VariableBody, arg_name="body")
@api.output(VariableResponse)
@api.doc(tags=["Variable"], responses=ERRORS)
def patch_variable(variable_key: str, body: VariableBody) -> VariableResponse:
    """Change a variable's value and description."""
    if body.key != variable_key:
        raise InvalidInput("the key in the body must be the key in the path")
    _one(variable_key)
    service.set_variable(web_context().db, variable_key, _text(body.value), description=body.description)
    return _one(variable_key)


@api.delete("/variables/<variable_key>")
@api.output({}, status_code=204)
@api.doc(tags=["Variable"], responses=ERRORS)
def delete_variable(variable_key: str) -> tuple[str, int]:
    """Delete a variable."""
    service.delete_variable(web_context().db, variable_key)
    return "", 204
