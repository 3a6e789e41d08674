"""Every route of the app declares a permission, and every route x role (anonymous too) gets what the table says."""

from __future__ import annotations

import re

import pytest

from dagflow.web.permissions import PUBLIC, ROUTE_PERMISSIONS, allowed
from tests.unit.api.conftest import RUN_ID, Api

#: Values for the path variables of the URL map (real ids where they exist).
SAMPLES = {
    "dag_id": "api_dag",
    "dag_run_id": RUN_ID,
    "task_id": "a",
    "map_index": "-1",
    "try_number": "1",
    "import_error_id": "1",
    "filename": "x",
    "variable_key": "k",
    "pool_name": "default_pool",
    "connection_id": "c",
    "xcom_key": "return_value",
    "backfill_id": "1",
    "key": "k",
    "event_log_id": "1",
    "run_id": RUN_ID,
    "asset_id": "1",
}
DENIED = (401, 403)


def _path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: SAMPLES.get(m.group(1), "x"), rule)


def test_every_route_declares_a_permission(api: Api) -> None:
    endpoints = {rule.endpoint for rule in api.app.url_map.iter_rules()}

    assert sorted(endpoints - set(ROUTE_PERMISSIONS)) == []


def test_every_route_and_role_gets_what_the_table_says(api: Api) -> None:
    """API routes and UI pages alike; an anonymous GET of a UI page is sent to the login form instead of a 401."""
    checked = 0
    for rule in api.app.url_map.iter_rules():
        permission = ROUTE_PERMISSIONS[rule.endpoint]
        path = _path(rule.rule)
        page = rule.endpoint.startswith("ui.")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            for role in (None, "viewer", "op", "admin"):
                changes = method in ("POST", "PATCH", "PUT")
                kwargs = ({"data": {}} if page else {"json": {}}) if changes else {}
                response = api.call(method, path, role, **kwargs)
                status = response.status_code
                assert status < 500, (method, path, role, status)
                if rule.endpoint == "ui.login" and changes:
                    assert status in (400, 401)  # no CSRF token (anonymous), a wrong password (everyone)
                elif allowed(role, permission):
                    assert status not in DENIED, (method, path, role, status)
                elif role is None and page and method == "GET":
                    assert status == 302 and response.headers["Location"].startswith("/login?next="), (path, status)
                elif role is None:
                    assert status == 401, (method, path, role, status)
                else:
                    assert status == 403, (method, path, role, status)
                checked += 1
    assert checked > 100
    assert any(rule.endpoint.startswith("ui.") for rule in api.app.url_map.iter_rules())


def test_a_route_missing_from_the_table_denies_everyone(api: Api) -> None:
    api.app.add_url_rule("/api/v2/undeclared", "undeclared", lambda: "reached")

    for role in (None, "viewer", "op", "admin"):
        response = api.call("GET", "/api/v2/undeclared", role)
        assert response.status_code == 403
        assert b"reached" not in response.data


@pytest.mark.parametrize(
    ("role", "path", "expected"),
    [
        ("viewer", "/api/v2/dags", 200),
        ("viewer", "/api/v2/variables", 403),
        ("op", "/api/v2/variables", 200),
        ("op", "/api/v2/connections", 403),
        ("admin", "/api/v2/connections", 200),
    ],
)
def test_roles_as_the_issue_describes_them(api: Api, role: str, path: str, expected: int) -> None:
    if not any(r.rule == path for r in api.app.url_map.iter_rules()):
        pytest.skip(f"{path} is not served yet")
    assert api.get(path, role).status_code == expected


def test_public_routes_need_no_login(api: Api) -> None:
    public = sorted(e for e, p in ROUTE_PERMISSIONS.items() if p == PUBLIC)

    assert "api.get_health" in public and "api.get_version" in public and "auth.create_token" in public
    assert api.call("GET", "/api/v2/monitor/health", None).status_code == 200
    assert api.call("GET", "/api/v2/openapi.json", None).status_code == 200
