"""``/users`` (admins only): create users, change their role, deactivate, reset a password, delete."""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import Conflict
from dagflow.models.user import ROLES
from dagflow.services import users as service
from dagflow.web.auth import current_identity
from dagflow.web.context import web_context
from dagflow.www.common import done, render_page, ui
from dagflow.www.views_admin import confirm_page, confirmed


@ui.route("/users")
def users() -> tuple[str, int]:
    """Every user with role and status."""
    return render_page("users.html", title="Users", users=service.list_users(web_context().db), roles=ROLES)


@ui.route("/users", methods=["POST"])
def create_user() -> ResponseReturnValue:
    """Create a user with a role and a first password."""
    username = request.form.get("username", "").strip()
    service.create_user(web_context().db, username, request.form.get("password", ""), request.form.get("role", ""))
    return done(f"User {username} created.", url_for("ui.users"))


@ui.route("/users/<username>/edit", methods=["POST"])
def edit_user(username: str) -> ResponseReturnValue:
    """Change a user's role and active flag; a new password when one is given (it ends the user's sessions)."""
    db = web_context().db
    role, active = request.form.get("role", ""), request.form.get("is_active") == "1"
    if _is_me(username) and (role != "admin" or not active):
        raise Conflict("you cannot take admin away from yourself or deactivate yourself (ask another admin)")
    current = service.get_user(db, username)
    if role != current.role:
        service.set_role(db, username, role)
    if active != current.is_active:
        service.set_active(db, username, active)
    password = request.form.get("password", "")
    if password:
        service.reset_password(db, username, password)
    return done(f"User {username} saved.", url_for("ui.users"))


@ui.route("/users/<username>/delete", methods=["POST"])
def delete_user(username: str) -> ResponseReturnValue:
    """Delete a user and its tokens (after a confirm step); nobody deletes themselves."""
    if _is_me(username):
        raise Conflict("you cannot delete yourself (ask another admin)")
    if not confirmed():
        return confirm_page("Delete user", f"Delete user {username} and its API tokens?", request.path, "/users")
    service.delete_user(web_context().db, username)
    return done(f"User {username} deleted.", url_for("ui.users"))


def _is_me(username: str) -> bool:
    me = current_identity()
    return me is not None and me.username == username
