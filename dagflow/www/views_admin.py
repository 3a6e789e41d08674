"""``/import-errors``, ``/sla-misses``, ``/pools`` and ``/variables``: lists, and edit forms for roles that may edit.

Deleting asks first: the first POST shows what will go, the confirm form posts again with
``confirmed=1``. Values of variables whose key looks sensitive are never sent to the browser.
"""

from __future__ import annotations

from flask import request, url_for
from flask.typing import ResponseReturnValue

from dagflow.exceptions import InvalidInput, VariableNotFound
from dagflow.sdk.ids import check_key
from dagflow.secrets.masker import SecretsMasker
from dagflow.services import pools as pool_service
from dagflow.services import variables as variable_service
from dagflow.services.dags import query_import_errors
from dagflow.services.listing import Slice
from dagflow.services.sla import list_sla_misses
from dagflow.web.auth import hidden_dags
from dagflow.web.context import web_context
from dagflow.www.common import done, render_page, ui
from dagflow.www.list_filters import hidden

PAGE_SIZE = 50
#: Longest variable value the list shows (the edit form has all of it).
VALUE_PREVIEW = 200


def _offset() -> int:
    return max(request.args.get("offset", 0, type=int) or 0, 0)


def confirmed() -> bool:
    """True on the second POST of a confirm step."""
    return request.form.get("confirmed") == "1"


def confirm_page(title: str, question: str, url: str, cancel: str) -> tuple[str, int]:
    """The confirm step of a destructive action: ``question``, then a POST to ``url`` with ``confirmed=1``."""
    return render_page("confirm_delete.html", title=title, question=question, url=url, cancel=cancel)


@ui.route("/import-errors")
def import_errors() -> tuple[str, int]:
    """DAG files that failed to import: file, line and traceback."""
    offset = _offset()
    page = query_import_errors(web_context().db, Slice(PAGE_SIZE, offset, ("filename",)), hidden_dag_ids=hidden_dags())
    return render_page("import_errors.html", title="Import errors", page=page, offset=offset, limit=PAGE_SIZE)


@ui.route("/sla-misses")
def sla_misses() -> tuple[str, int]:
    """Task instances that were not done by their SLA, newest first."""
    dag_id = request.args.get("dag_id", "").strip()
    if dag_id:
        check_key("dag_id", dag_id)
    refused = hidden()
    misses = [m for m in list_sla_misses(web_context().db, dag_id=dag_id or None, limit=500) if m.dag_id not in refused]
    return render_page("sla_misses.html", title="SLA misses", misses=misses, dag_id=dag_id)


# --- pools ----------------------------------------------------------------------------------
@ui.route("/pools")
def pools() -> tuple[str, int]:
    """Pools with their slots and usage; ``?edit=NAME`` fills the form with a pool."""
    db = web_context().db
    listed = pool_service.list_pools(db)
    editing = next((p for p in listed if p.pool == request.args.get("edit")), None)
    return render_page("pools.html", title="Pools", pools=listed, editing=editing)


@ui.route("/pools", methods=["POST"])
def save_pool() -> ResponseReturnValue:
    """Create a pool or change its slots and description."""
    name = check_key("pool", request.form.get("name", "").strip())
    slots = request.form.get("slots", "").strip()
    if not slots.lstrip("-").isdigit():
        raise InvalidInput(f"slots must be a whole number (-1 for unlimited), not {slots[:20]!r}")
    description = request.form.get("description", "").strip() or None
    pool_service.set_pool(web_context().db, name, int(slots), description=description)
    return done(f"Pool {name} saved.", url_for("ui.pools"))


@ui.route("/pools/<pool_name>/delete", methods=["POST"])
def delete_pool(pool_name: str) -> ResponseReturnValue:
    """Delete a pool (after a confirm step)."""
    if not confirmed():
        url = request.path
        return confirm_page("Delete pool", f"Delete pool {pool_name}?", url, "/pools")
    pool_service.delete_pool(web_context().db, pool_name)
    return done(f"Pool {pool_name} deleted.", url_for("ui.pools"))


# --- variables ------------------------------------------------------------------------------
def is_sensitive(key: str) -> bool:
    """True when a variable's key names a secret (``core.sensitive_var_conn_names`` adds names)."""
    names = web_context().settings.core.sensitive_var_conn_names
    return SecretsMasker(names).should_hide_value_for_key(key)


@ui.route("/variables")
def variables() -> tuple[str, int]:
    """Variables with their values (``***`` for sensitive keys); ``?edit=KEY`` fills the form."""
    db = web_context().db
    offset = _offset()
    listed = variable_service.list_variables(db, with_values=True)
    rows = []
    for v in listed[offset : offset + PAGE_SIZE]:
        sensitive = is_sensitive(v.key)  # the value of a sensitive key never leaves the server
        value = None if sensitive else _preview(v.value)
        rows.append({"key": v.key, "description": v.description, "sensitive": sensitive, "value": value})
    editing = _variable_to_edit(request.args.get("edit", ""))
    return render_page(
        "variables.html",
        title="Variables",
        rows=rows,
        total=len(listed),
        offset=offset,
        limit=PAGE_SIZE,
        editing=editing,
    )


def _preview(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= VALUE_PREVIEW else text[:VALUE_PREVIEW] + "…"


def _variable_to_edit(key: str) -> dict[str, object] | None:
    if not key:
        return None
    try:
        record = variable_service.get_variable_record(web_context().db, key)
    except VariableNotFound:
        return None
    value, description = record.value, record.description
    sensitive = is_sensitive(key)
    return {"key": key, "value": "" if sensitive else value, "sensitive": sensitive, "description": description}


@ui.route("/variables", methods=["POST"])
def save_variable() -> ResponseReturnValue:
    """Create or replace a variable; for a sensitive key an empty value keeps the stored one."""
    key = request.form.get("key", "").strip()
    if not key or len(key) > 250:
        raise InvalidInput("a variable key must have 1 to 250 characters")
    value = request.form.get("value", "")
    description = request.form.get("description", "").strip() or None
    db = web_context().db
    if value == "" and is_sensitive(key) and variable_service.get_variable(db, key, default=None) is not None:
        value = variable_service.get_variable(db, key)  # write-only: a blank field keeps the secret
    variable_service.set_variable(db, key, value, description=description)
    return done(f"Variable {key} saved.", url_for("ui.variables"))


@ui.route("/variables/<path:variable_key>/delete", methods=["POST"])
def delete_variable(variable_key: str) -> ResponseReturnValue:
    """Delete a variable (after a confirm step)."""
    if not confirmed():
        return confirm_page("Delete variable", f"Delete variable {variable_key}?", request.path, "/variables")
    variable_service.delete_variable(web_context().db, variable_key)
    return done(f"Variable {variable_key} deleted.", url_for("ui.variables"))
