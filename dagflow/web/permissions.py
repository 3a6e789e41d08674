"""Who may do what: roles -> permissions, and the one table route -> permission, checked before every request.

Permissions are data. A route's permission is looked up by its Flask endpoint in
``ROUTE_PERMISSIONS``; a route missing from the table denies everyone (403), so a new
route cannot be reachable by accident. ``PUBLIC`` routes need no login (health, version,
the OpenAPI document, the login endpoint). Views never test a role.
"""

from __future__ import annotations

from collections.abc import Mapping

#: A route anyone may call, logged in or not.
PUBLIC = "public"

# --- permissions (resource:action, as Airflow's resource names) ------------------------
DAG_READ = "dag:read"
DAG_EDIT = "dag:edit"  # pause / unpause
DAG_DELETE = "dag:delete"
DAG_RUN_READ = "dag_run:read"
DAG_RUN_CREATE = "dag_run:create"  # trigger
DAG_RUN_EDIT = "dag_run:edit"  # mark, note, clear
DAG_RUN_DELETE = "dag_run:delete"
TASK_INSTANCE_READ = "task_instance:read"
TASK_INSTANCE_EDIT = "task_instance:edit"  # mark, clear, note
TASK_LOG_READ = "task_log:read"
XCOM_READ = "xcom:read"
IMPORT_ERROR_READ = "import_error:read"
BACKFILL_READ = "backfill:read"
BACKFILL_EDIT = "backfill:edit"
APPROVAL_EDIT = "approval:edit"
SLA_MISS_READ = "sla_miss:read"
POOL_READ = "pool:read"
POOL_EDIT = "pool:edit"
VARIABLE_READ = "variable:read"
VARIABLE_EDIT = "variable:edit"
CONNECTION_READ = "connection:read"
CONNECTION_EDIT = "connection:edit"
STATE_STORE_READ = "state_store:read"
STATE_STORE_EDIT = "state_store:edit"
ASSET_READ = "asset:read"
ASSET_EDIT = "asset:edit"  # an asset event by hand
USER_READ = "user:read"
USER_EDIT = "user:edit"
AUDIT_LOG_READ = "audit_log:read"

_VIEWER = frozenset(
    {
        DAG_READ,
        DAG_RUN_READ,
        TASK_INSTANCE_READ,
        TASK_LOG_READ,
        XCOM_READ,
        IMPORT_ERROR_READ,
        BACKFILL_READ,
        SLA_MISS_READ,
        POOL_READ,
        STATE_STORE_READ,
        AUDIT_LOG_READ,
        ASSET_READ,
    }
)
_OP = _VIEWER | {
    DAG_EDIT,
    DAG_DELETE,
    DAG_RUN_CREATE,
    DAG_RUN_EDIT,
    DAG_RUN_DELETE,
    TASK_INSTANCE_EDIT,
    BACKFILL_EDIT,
    APPROVAL_EDIT,
    POOL_EDIT,
    VARIABLE_READ,
    VARIABLE_EDIT,
    STATE_STORE_EDIT,
    ASSET_EDIT,
}
_ADMIN = _OP | {CONNECTION_READ, CONNECTION_EDIT, USER_READ, USER_EDIT}

#: Role -> what it may do. viewer reads; op also triggers, clears, marks, pauses, approves and
#: edits pools and variables; admin also manages connections and users.
ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {"viewer": _VIEWER, "op": frozenset(_OP), "admin": frozenset(_ADMIN)}

#: Every permission a route may declare (besides ``PUBLIC``).
ALL_PERMISSIONS: frozenset[str] = frozenset(_ADMIN)


#: Route permission -> the per-DAG action (``access_control``) it needs on the DAG it names.
DAG_ACTIONS: Mapping[str, str] = {
    DAG_READ: "can_read",
    DAG_RUN_READ: "can_read",
    TASK_INSTANCE_READ: "can_read",
    TASK_LOG_READ: "can_read",
    XCOM_READ: "can_read",
    BACKFILL_READ: "can_read",
    SLA_MISS_READ: "can_read",
    DAG_EDIT: "can_edit",
    DAG_RUN_CREATE: "can_edit",
    DAG_RUN_EDIT: "can_edit",
    TASK_INSTANCE_EDIT: "can_edit",
    BACKFILL_EDIT: "can_edit",
    APPROVAL_EDIT: "can_edit",
    DAG_DELETE: "can_delete",
    DAG_RUN_DELETE: "can_delete",
}


def allowed(role: str | None, permission: str) -> bool:
    """True when ``role`` (None: anonymous) may use a route that declares ``permission``."""
    if permission == PUBLIC:
        return True
    return role is not None and permission in ROLE_PERMISSIONS.get(role, frozenset())


_API = "api"
#: Flask endpoint -> permission. The REST API's endpoints are ``api.<view function name>``.
ROUTE_PERMISSIONS: Mapping[str, str] = {
    # the app and its documents
    "static": PUBLIC,
    "openapi.spec": PUBLIC,
    "openapi.docs": PUBLIC,
    "openapi.swagger_ui_oauth_redirect": PUBLIC,
    "auth.create_token": PUBLIC,
    f"{_API}.get_health": PUBLIC,
    f"{_API}.get_version": PUBLIC,
    # DAGs
    f"{_API}.get_dags": DAG_READ,
    f"{_API}.get_dag": DAG_READ,
    f"{_API}.get_dag_details": DAG_READ,
    f"{_API}.patch_dag": DAG_EDIT,
    f"{_API}.patch_dags": DAG_EDIT,
    f"{_API}.delete_dag": DAG_DELETE,
    f"{_API}.get_dag_tags": DAG_READ,
    f"{_API}.get_dag_source": DAG_READ,
    f"{_API}.get_tasks": DAG_READ,
    f"{_API}.get_task": DAG_READ,
    f"{_API}.get_import_errors": IMPORT_ERROR_READ,
    f"{_API}.get_import_error": IMPORT_ERROR_READ,
    # runs
    f"{_API}.get_dag_runs": DAG_RUN_READ,
    f"{_API}.get_dag_run": DAG_RUN_READ,
    f"{_API}.trigger_dag_run": DAG_RUN_CREATE,
    f"{_API}.patch_dag_run": DAG_RUN_EDIT,
    f"{_API}.delete_dag_run": DAG_RUN_DELETE,
    f"{_API}.clear_dag_run": DAG_RUN_EDIT,
    # task instances, logs, XComs
    f"{_API}.get_task_instances": TASK_INSTANCE_READ,
    f"{_API}.get_task_instance": TASK_INSTANCE_READ,
    f"{_API}.get_mapped_task_instance": TASK_INSTANCE_READ,
    f"{_API}.get_task_instance_tries": TASK_INSTANCE_READ,
    f"{_API}.get_mapped_task_instance_tries": TASK_INSTANCE_READ,
    f"{_API}.get_task_instance_dependencies": TASK_INSTANCE_READ,
    f"{_API}.get_mapped_task_instance_dependencies": TASK_INSTANCE_READ,
    f"{_API}.patch_task_instance": TASK_INSTANCE_EDIT,
    f"{_API}.patch_mapped_task_instance": TASK_INSTANCE_EDIT,
    f"{_API}.patch_task_instance_dry_run": TASK_INSTANCE_EDIT,
    f"{_API}.patch_mapped_task_instance_dry_run": TASK_INSTANCE_EDIT,
    f"{_API}.post_clear_task_instances": TASK_INSTANCE_EDIT,
    f"{_API}.get_log": TASK_LOG_READ,
    f"{_API}.get_xcom_entries": XCOM_READ,
    f"{_API}.get_xcom_entry": XCOM_READ,
    f"{_API}.approve_task_instance": APPROVAL_EDIT,
    f"{_API}.reject_task_instance": APPROVAL_EDIT,
    f"{_API}.get_task_switches": DAG_READ,
    f"{_API}.disable_task": TASK_INSTANCE_EDIT,
    f"{_API}.enable_task": TASK_INSTANCE_EDIT,
    # backfills, SLA misses
    f"{_API}.list_backfills": BACKFILL_READ,
    f"{_API}.get_backfill": BACKFILL_READ,
    f"{_API}.create_backfill": BACKFILL_EDIT,
    f"{_API}.create_backfill_dry_run": BACKFILL_EDIT,
    f"{_API}.cancel_backfill": BACKFILL_EDIT,
    f"{_API}.pause_backfill": BACKFILL_EDIT,
    f"{_API}.unpause_backfill": BACKFILL_EDIT,
    f"{_API}.get_sla_misses": SLA_MISS_READ,
    # pools, variables, connections, state store
    f"{_API}.get_pools": POOL_READ,
    f"{_API}.get_pool": POOL_READ,
    f"{_API}.post_pool": POOL_EDIT,
    f"{_API}.patch_pool": POOL_EDIT,
    f"{_API}.delete_pool": POOL_EDIT,
    f"{_API}.get_variables": VARIABLE_READ,
    f"{_API}.get_variable": VARIABLE_READ,
    f"{_API}.post_variable": VARIABLE_EDIT,
    f"{_API}.patch_variable": VARIABLE_EDIT,
    f"{_API}.delete_variable": VARIABLE_EDIT,
    f"{_API}.get_connections": CONNECTION_READ,
    f"{_API}.get_connection": CONNECTION_READ,
    f"{_API}.post_connection": CONNECTION_EDIT,
    f"{_API}.patch_connection": CONNECTION_EDIT,
    f"{_API}.delete_connection": CONNECTION_EDIT,
    f"{_API}.get_state_store_entries": STATE_STORE_READ,
    f"{_API}.get_state_store_entry": STATE_STORE_READ,
    f"{_API}.put_state_store_entry": STATE_STORE_EDIT,
    f"{_API}.delete_state_store_entry": STATE_STORE_EDIT,
    # the audit log
    f"{_API}.get_event_logs": AUDIT_LOG_READ,
    f"{_API}.get_event_log": AUDIT_LOG_READ,
    # the web UI's pages and actions (``ui.<view>``); pages read, POST actions change
    "ui.static": PUBLIC,
    "ui.login": PUBLIC,
    "ui.logout": PUBLIC,
    "ui.dags": DAG_READ,
    "ui.health_strip": DAG_READ,
    "ui.grid": DAG_READ,
    "ui.grid_fragment": DAG_READ,
    "ui.graph": DAG_READ,
    "ui.code": DAG_READ,
    "ui.pause": DAG_EDIT,
    "ui.trigger": DAG_RUN_CREATE,
    "ui.dag_run": DAG_RUN_READ,
    "ui.clear_run": DAG_RUN_EDIT,
    "ui.retry_failed_tasks": DAG_RUN_EDIT,
    "ui.mark_run_state": DAG_RUN_EDIT,
    "ui.run_note": DAG_RUN_EDIT,
    "ui.task_instance": TASK_INSTANCE_READ,
    "ui.task_log": TASK_LOG_READ,
    "ui.task_log_download": TASK_LOG_READ,
    "ui.task_log_tail": TASK_LOG_READ,
    "ui.clear_task": TASK_INSTANCE_EDIT,
    "ui.mark_task": TASK_INSTANCE_EDIT,
    "ui.task_note": TASK_INSTANCE_EDIT,
    "ui.disable_task": TASK_INSTANCE_EDIT,
    "ui.enable_task": TASK_INSTANCE_EDIT,
    "ui.approve": APPROVAL_EDIT,
    # cross-DAG lists and their bulk actions
    "ui.runs": DAG_RUN_READ,
    "ui.task_instances": TASK_INSTANCE_READ,
    "ui.runs_bulk": DAG_RUN_EDIT,
    "ui.runs_bulk_delete": DAG_RUN_DELETE,
    "ui.task_instances_bulk": TASK_INSTANCE_EDIT,
    "ui.events": AUDIT_LOG_READ,
    # admin pages
    "ui.import_errors": IMPORT_ERROR_READ,
    "ui.sla_misses": SLA_MISS_READ,
    "ui.pools": POOL_READ,
    "ui.save_pool": POOL_EDIT,
    "ui.delete_pool": POOL_EDIT,
    "ui.variables": VARIABLE_READ,
    "ui.save_variable": VARIABLE_EDIT,
    "ui.delete_variable": VARIABLE_EDIT,
    "ui.connections": CONNECTION_READ,
    "ui.save_connection": CONNECTION_EDIT,
    "ui.delete_connection": CONNECTION_EDIT,
    "ui.users": USER_READ,
    "ui.create_user": USER_EDIT,
    "ui.edit_user": USER_EDIT,
    "ui.delete_user": USER_EDIT,
    "ui.backfill": BACKFILL_READ,
    "ui.backfill_progress": BACKFILL_READ,
    "ui.create_backfill": BACKFILL_EDIT,
    "ui.cancel_backfill": BACKFILL_EDIT,
    "ui.pause_backfill": BACKFILL_EDIT,
    "ui.unpause_backfill": BACKFILL_EDIT,
    "ui.durations": TASK_INSTANCE_READ,
    "ui.task_duration_chart": TASK_INSTANCE_READ,
    "ui.assets": ASSET_READ,
    "ui.asset": ASSET_READ,
    # assets
    f"{_API}.get_assets": ASSET_READ,
    f"{_API}.get_asset": ASSET_READ,
    f"{_API}.get_asset_events": ASSET_READ,
    f"{_API}.create_asset_event": ASSET_EDIT,
}


def route_permission(endpoint: str | None) -> str | None:
    """The permission a route declares; None when it declares none (then nobody may use it)."""
    return ROUTE_PERMISSIONS.get(endpoint or "")
