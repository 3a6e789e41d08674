"""``/connections``: list and edit connections; the password is write-only (never sent to the browser)."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import ConnectionNotFound, InvalidInput
from dagflow.services import connections as service
from dagflow.web.context import web_context
from dagflow.www.common import done, render_page, ui
from dagflow.www.views_admin import confirm_page, confirmed

FIELDS = ("conn_type", "host", "schema", "login", "port", "description", "extra")


@ui.route("/connections")
def connections() -> tuple[str, int]:
    """Connections (passwords and sensitive extras masked); ``?edit=ID`` fills the form."""
    db = web_context().db
    listed = service.list_connections(db)
    editing = next((c for c in listed if c.conn_id == request.args.get("edit")), None)
    return render_page("connections.html", title="Connections", connections=listed, editing=editing)


@ui.route("/connections", methods=["POST"])
def save_connection() -> ResponseReturnValue:
    """Add a connection, or change one (an empty password field keeps the stored password)."""
    conn_id = request.form.get("conn_id", "").strip()
    if not conn_id or len(conn_id) > 250:
        raise InvalidInput("a connection id must have 1 to 250 characters")
    fields: dict[str, Any] = {name: request.form.get(name, "").strip() or None for name in FIELDS}
    if not fields["conn_type"]:
        raise InvalidInput("a connection needs a type (postgres, http, ...)")
    if fields["port"] is not None:
        if not str(fields["port"]).isdigit():
            raise InvalidInput(f"port must be a number, not {str(fields['port'])[:20]!r}")
        fields["port"] = int(fields["port"])
    password = request.form.get("password", "")
    fields["password"] = password or None
    connection = service.connection_from_fields(conn_id, fields)
    db = web_context().db
    if request.form.get("existing") == "1":
        service.update_connection(db, connection, keep_password=not password)
    else:
        try:
            service.get_connection(db, conn_id)
        except ConnectionNotFound:
            service.add_connection(db, connection)
        else:
            raise InvalidInput(f"connection {conn_id!r} exists already: edit it instead")
    return done(f"Connection {conn_id} saved.", url_for("ui.connections"))


@ui.route("/connections/<path:connection_id>/delete", methods=["POST"])
def delete_connection(connection_id: str) -> ResponseReturnValue:
    """Delete a connection (after a confirm step)."""
    if not confirmed():
        return confirm_page("Delete connection", f"Delete connection {connection_id}?", request.path, "/connections")
    service.delete_connection(web_context().db, connection_id)
    return done(f"Connection {connection_id} deleted.", url_for("ui.connections"))
