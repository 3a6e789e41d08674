"""The web UI: a Flask blueprint (``ui``) of server-rendered pages, Jinja templates and vendored static assets.

``register_ui(app, extensions)`` (called by ``dagflow.webapp.create_app``) loads the view
modules listed in ``VIEW_MODULES``, registers the blueprint and the security headers.
Pages call ``dagflow.services`` and render with ``render_page``; every route declares its
permission in ``dagflow.web.permissions.ROUTE_PERMISSIONS`` (``ui.<view name>``).
May import ``dagflow.web`` and ``dagflow.services`` (and below); never ``dagflow.api``,
``dagflow.webapp`` or ``dagflow.cli``. How to add a page: ``dagflow/www/README.md``.
"""

from __future__ import annotations

from importlib import import_module

from flask import Flask

from dagflow.web.auth import AuthExtensions
from dagflow.web.context import EXTENSION

#: View modules; each adds its routes to ``dagflow.www.common.ui`` when imported.
VIEW_MODULES: tuple[str, ...] = (
    "views_auth",
    "views_dags",
    "views_lists",
    "views_events",
    "views_admin",
    "views_connections",
    "views_users",
    "views_backfill",
    "views_durations",
    "views_grid",
    "views_runs",
    "views_tasks",
    "views_assets",
)


def register_ui(app: Flask, extensions: AuthExtensions) -> None:
    """Load every view module, register the ``ui`` blueprint and the security headers on ``app``."""
    from dagflow.www import security, views_auth
    from dagflow.www.common import install_page_errors, ui

    for name in VIEW_MODULES:
        import_module(f"dagflow.www.{name}")
    security.install(app)
    install_page_errors(app)
    app.register_blueprint(ui)
    views_auth.limit_login(app, extensions.limiter, app.extensions[EXTENSION].settings.api.login_rate_limit)
