"""``create_app(settings)``: the one Flask app that serves the REST API and the web UI's blueprint.

Settings are loaded by the caller (``dagflow webserver``, a test) and passed in; the
database must already be migrated (``dagflow db migrate``; the ``webserver`` command
migrates a brand-new one at its start). Flask's ``SECRET_KEY`` is the deployment's key
(``dagflow.keys.secret_key``): a placeholder or a short key stops the app here.
"""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask

import dagflow
from dagflow.config import Settings
from dagflow.db import Database
from dagflow.keys import secret_key
from dagflow.services.database import ensure_schema
from dagflow.web import auth, context, errors


def create_app(settings: Settings, *, db: Database | None = None) -> APIFlask:
    """Build the app: settings and database, secret key, auth and permissions, error handling, the API."""
    from dagflow.api import register_api
    from dagflow.www import register_ui

    app = APIFlask(
        "dagflow",
        title="dagflow REST API",
        version=getattr(dagflow, "__version__", "0"),
        spec_path="/api/v2/openapi.json",
        docs_path="/api/v2/docs",
    )
    app.config.update(
        SECRET_KEY=secret_key(settings),
        OPENAPI_VERSION="3.1.0",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.webserver.cookie_secure,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.webserver.cookie_secure,
        VALIDATION_ERROR_STATUS_CODE=422,
        AUTO_404_RESPONSE=True,
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    database = db or Database(settings)
    ensure_schema(database)
    context.install(app, settings, database)
    errors.register(app)
    extensions = auth.install(app)
    register_api(app)
    register_ui(app, extensions)

    @app.spec_processor
    def _document(spec: Any) -> Any:
        spec.setdefault("security", [{"BearerAuth": []}])
        return errors.document_errors(spec)

    return app
