"""``/login`` and ``/logout``: a Flask-Login session on the users of ``dagflow users``."""

from __future__ import annotations

from flask import Flask, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter
from flask_login import current_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from dagflow.exceptions import NotAuthenticated
from dagflow.services import users
from dagflow.web.auth import log_in
from dagflow.web.context import web_context
from dagflow.www.common import local_path, render_page, ui


@ui.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; a good password opens a session and goes to ``next`` (a path on this site) or ``/``."""
    target = local_path(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(target)
        return render_page("login.html", title="Log in", next=target)
    username = request.form.get("username", "").strip()
    try:
        info = users.authenticate(web_context().db, username, request.form.get("password", ""))
    except NotAuthenticated as exc:
        flash(str(exc), "error")
        return render_page("login.html", title="Log in", next=target, username=username, status=401)
    log_in(info)
    return redirect(target, code=303)


@ui.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    """End the session (a POST with the CSRF token, so another site cannot log you out)."""
    logout_user()
    flash("You are logged out.", "success")
    return redirect(url_for("ui.login"), code=303)


def limit_login(app: Flask, limiter: Limiter, rate: str) -> None:
    """Rate-limit login attempts per client address (``api.login_rate_limit``), as ``POST /auth/token`` is.

    The app's own view of ``/login`` is wrapped, so each app gets its limiter's count.
    """
    app.view_functions["ui.login"] = limiter.limit(rate, methods=["POST"])(login)
