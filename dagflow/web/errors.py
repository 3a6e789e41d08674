"""Errors as HTTP: a DagflowError's kind gives the status; the body is problem JSON, as Airflow 3 returns.

``{"detail": ..., "status": ..., "title": ...}``; ``detail`` is the error's one line (for a
request that fails validation, a list of ``{"loc", "msg", "type"}`` as FastAPI gives). A
bug is a 500 whose body says nothing about the inside; its traceback goes to the log.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

from dagflow.exceptions import (
    Conflict,
    DagflowError,
    DatabaseError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)

log = logging.getLogger(__name__)

#: Error kind -> HTTP status, most specific first. Any other DagflowError is a 400.
STATUS_BY_KIND: tuple[tuple[type[DagflowError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (PermissionDenied, 403),
    (NotAuthenticated, 401),
    (DatabaseError, 503),
)


#: The OpenAPI schema of every error body (validation errors included).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "detail": {"description": "What went wrong: one line, or a list of {loc, msg, type} for invalid input"},
        "status": {"type": "integer"},
        "title": {"type": "string"},
    },
    "required": ["detail", "status", "title"],
}
#: Statuses any authenticated operation may answer with, documented on each.
COMMON_ERRORS = {"400": "Bad Request", "401": "Unauthorized", "403": "Forbidden", "409": "Conflict"}


def status_for(exc: DagflowError) -> int:
    """The HTTP status of a domain error."""
    for kind, status in STATUS_BY_KIND:
        if isinstance(exc, kind):
            return status
    return 400


def problem(status: int, detail: Any, headers: dict[str, str] | None = None) -> Response:
    """A problem-JSON response."""
    response = jsonify({"detail": detail, "status": status, "title": HTTPStatus(status).phrase})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _validation_detail(detail: Any) -> Any:
    """APIFlask's ``{location: {field: [messages]}}`` as FastAPI's list of ``{"loc", "msg", "type"}``."""
    if not isinstance(detail, dict) or not detail:
        return detail
    items = []
    for location, fields in detail.items():
        if not isinstance(fields, dict):
            items.append({"loc": [location], "msg": str(fields), "type": "value_error"})
            continue
        for field, messages in fields.items():
            loc = [location, *[p for p in str(field).split(".") if p and p != "_schema"]]
            for message in messages if isinstance(messages, list) else [messages]:
                items.append({"loc": loc, "msg": str(message), "type": "value_error"})
    return items


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the errors every operation may answer with to an OpenAPI document (the app's spec processor)."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
    spec.setdefault("components", {}).setdefault("schemas", {})["HTTPError"] = PROBLEM_SCHEMA
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code, phrase in COMMON_ERRORS.items():
                operation["responses"].setdefault(code, {"description": phrase, "content": error})
    return spec


def register(app: APIFlask) -> None:
    """Install the one error boundary of the web app (its errors are documented by ``document_errors``)."""
    app.config["HTTP_ERROR_SCHEMA"] = PROBLEM_SCHEMA
    app.config["VALIDATION_ERROR_SCHEMA"] = PROBLEM_SCHEMA

    @app.error_processor
    def _apiflask_error(error: HTTPError) -> Response:  # validation and abort() errors
        detail: Any = _validation_detail(error.detail) if error.detail else error.message
        headers = {str(k): str(v) for k, v in dict(error.headers or {}).items()}
        return problem(error.status_code, detail, headers)

    @app.errorhandler(DagflowError)
    def _domain_error(exc: DagflowError) -> Response:
        status = status_for(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return problem(status, _one_line(exc), headers)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return problem(exc.code or 500, exc.description or HTTPStatus(exc.code or 500).phrase)

    @app.errorhandler(OverflowError)
    def _too_large(exc: OverflowError) -> Response:  # a number the database cannot hold: the input's fault
        return problem(422, "a number in the request is out of range")

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        log.exception("unhandled error in a web request")
        return problem(500, "internal server error (see the web server's log)")
