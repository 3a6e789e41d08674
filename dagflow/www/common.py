"""The ``ui`` blueprint and what every page shares: ``render_page``, ``may``, the CSRF check, HTML errors.

A view is a few lines: parse the request, call a service, ``return render_page(...)``.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from apiflask import APIBlueprint
from flask import Flask, Response, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from dagflow.exceptions import DagflowError, NotAuthenticated
from dagflow.web.auth import SAFE_METHODS, current_identity
from dagflow.web.errors import status_for
from dagflow.web.permissions import allowed, route_permission

log = logging.getLogger(__name__)

#: Paths that belong to the REST API: their errors stay problem JSON.
API_PREFIXES = ("/api/", "/auth/")

#: The UI's pages (an APIBlueprint only so that the API's OpenAPI document can leave it out).
ui = APIBlueprint(
    "ui",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/ui",
    enable_openapi=False,
)

#: The pages in the navigation bar: (endpoint, label). A link shows only to roles that may open it.
NAV: tuple[tuple[str, str], ...] = (
    ("ui.dags", "DAGs"),
    ("ui.runs", "Runs"),
    ("ui.task_instances", "Task instances"),
    ("ui.assets", "Assets"),
    ("ui.import_errors", "Import errors"),
    ("ui.sla_misses", "SLA misses"),
    ("ui.pools", "Pools"),
    ("ui.variables", "Variables"),
    ("ui.connections", "Connections"),
    ("ui.users", "Users"),
    ("ui.events", "Audit log"),
)


def may(endpoint: str) -> bool:
    """True when the caller of this request may use the route ``endpoint`` (buttons and links ask this)."""
    permission = route_permission(endpoint)
    if permission is None:
        return False
    user = current_identity()
    return allowed(user.role if user else None, permission)


def has_page(endpoint: str) -> bool:
    """True when the app serves ``endpoint`` and the caller may open it (links to optional pages ask this)."""
    return endpoint in current_app.view_functions and may(endpoint)


def nav_links() -> list[tuple[str, str]]:
    """The navigation bar's (url, label) pairs the caller may open; pages not served yet are left out."""
    links = []
    for endpoint, label in NAV:
        if has_page(endpoint):
            links.append((url_for(endpoint), label))
    return links


def render_page(template: str, *, title: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """Render ``template`` (which extends ``base.html``) with the page title and the shared context."""
    return render_template(template, page_title=title, **context), status


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this site (``/dags?x=1``), else ``default``: ``next=`` never leaves the site."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(ord(c) < 32 or c == "\\" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def done(message: str, url: str) -> BaseResponse:
    """After a successful action: flash ``message`` and go (303 See Other) to ``url``."""
    flash(message, "success")
    return redirect(url, code=303)


@ui.app_template_filter("pretty_json")
def pretty_json(value: Any) -> str:
    """``value`` as indented JSON text (a plain string: autoescape escapes it like any other text)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@ui.app_context_processor
def _shared() -> dict[str, Any]:
    return {"may": may, "has_page": has_page, "nav_links": nav_links, "identity": current_identity()}


@ui.before_request
def _csrf_on_every_change() -> None:
    """Every state-changing UI request carries the CSRF token, logged in or not (login and logout too)."""
    if request.method not in SAFE_METHODS and "Authorization" not in request.headers:
        current_app.extensions["csrf"].protect()


@ui.errorhandler(DagflowError)
def _domain_error(exc: DagflowError) -> ResponseReturnValue:
    status = status_for(exc)
    if isinstance(exc, NotAuthenticated) and "Authorization" not in request.headers:
        return _to_login()
    return _error_page(status, str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)


@ui.errorhandler(Exception)
def _bug(exc: Exception) -> tuple[str, int]:
    log.exception("unhandled error in a web UI request")
    return _error_page(500, "internal server error (see the web server's log)")


@ui.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> tuple[str, int]:
    return _error_page(exc.code or 500, exc.description or "error")


def install_page_errors(app: Flask) -> None:
    """Unknown paths outside the API (no blueprint matched) get an HTML page too; the API keeps problem JSON."""
    api_handler = app.error_handler_spec[None][None].get(HTTPException)

    def _page_or_problem(exc: HTTPException) -> Any:
        if request.path.startswith(API_PREFIXES) or api_handler is None:
            return api_handler(exc) if api_handler else exc
        return _error_page(exc.code or 500, exc.description or "error")

    app.register_error_handler(HTTPException, _page_or_problem)


def _to_login() -> BaseResponse:
    target = url_for("ui.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):  # a live fragment of an expired session: send the whole page to login
        response = Response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    if request.method in SAFE_METHODS:
        return redirect(target)
    return Response(render_template("error.html", page_title="Log in", status=401, detail="log in first"), 401)


def _error_page(status: int, detail: str) -> tuple[str, int]:
    return render_page("error.html", title=f"Error {status}", status=status, detail=detail)
