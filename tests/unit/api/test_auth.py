"""Tokens, sessions, rate limiting and CSRF: who gets in, and when a credential stops working."""

from __future__ import annotations

from datetime import timedelta

import pendulum
import sqlalchemy as sa

from dagflow.models import ApiToken, User
from dagflow.services import users
from dagflow.webapp import create_app
from tests.unit.api.conftest import PASSWORD, Api


def _login(api: Api, username: str = "viewer", password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return api.client.post("/auth/token", json={"username": username, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_auth_token_as_airflow_3_and_the_token_works(api: Api) -> None:
    response = _login(api)

    assert response.status_code == 201
    token = response.json["access_token"]
    assert api.client.get("/api/v2/dags", headers=_bearer(token)).status_code == 200
    with api.db.transaction() as session:
        row = session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == users.token_hash(token)))
        assert row is not None and row.expires_at is not None  # stored hashed, and it expires
        assert token not in {r.token_hash for r in session.scalars(sa.select(ApiToken))}


def test_wrong_password_unknown_user_and_bad_tokens_are_401(api: Api) -> None:
    assert _login(api, password="wrong-password").status_code == 401
    assert _login(api, username="nobody").status_code == 401
    assert api.client.post("/auth/token", json={"username": "viewer"}).status_code == 422
    for header in ("Bearer nope", "Basic dmlld2VyOng=", "Bearer "):
        response = api.client.get("/api/v2/dags", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json["status"] == 401 and response.headers["WWW-Authenticate"] == "Bearer"


def test_password_change_and_deactivation_end_tokens(api: Api) -> None:
    token = _login(api).json["access_token"]
    users.reset_password(api.db, "viewer", "another-password")

    assert api.client.get("/api/v2/dags", headers=_bearer(token)).status_code == 401
    assert api.get("/api/v2/dags", "viewer").status_code == 401  # the long-lived token too
    assert _login(api, password="another-password").status_code == 201

    op_token = _login(api, "op").json["access_token"]
    users.set_active(api.db, "op", False)
    assert api.client.get("/api/v2/dags", headers=_bearer(op_token)).status_code == 401
    assert _login(api, "op").status_code == 401


def test_revoked_and_expired_tokens_are_refused(api: Api) -> None:
    issued = users.issue_token(api.db, "viewer", name="short", ttl=timedelta(hours=1))
    assert api.client.get("/api/v2/dags", headers=_bearer(issued.token)).status_code == 200
    with api.db.transaction() as session:
        session.execute(
            sa.update(ApiToken)
            .where(ApiToken.id == issued.id)
            .values(expires_at=pendulum.now("UTC").subtract(seconds=1))
        )
    assert api.client.get("/api/v2/dags", headers=_bearer(issued.token)).status_code == 401

    other = users.issue_token(api.db, "viewer", name="other")
    users.revoke_token(api.db, other.id)
    assert api.client.get("/api/v2/dags", headers=_bearer(other.token)).status_code == 401


def test_login_is_rate_limited(api: Api) -> None:
    app = create_app(api.db.settings.replace(api={"login_rate_limit": "3 per minute"}), db=api.db)
    client = app.test_client()
    codes = [client.post("/auth/token", json={"username": "x", "password": "y"}).status_code for _ in range(5)]

    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


def test_a_cookie_session_needs_csrf_to_change_things_and_ends_with_the_password(api: Api) -> None:
    from flask_login import login_user
    from flask_wtf.csrf import generate_csrf

    from dagflow.web.auth import SessionUser

    info = users.get_user(api.db, "op")
    with api.app.test_request_context():
        pass

    @api.app.route("/_test_login")
    def _test_login():  # type: ignore[no-untyped-def]
        login_user(SessionUser(info))
        return generate_csrf()

    from dagflow.web import permissions

    permissions.ROUTE_PERMISSIONS["_test_login"] = permissions.PUBLIC  # type: ignore[index]
    try:
        csrf = api.client.get("/_test_login").get_data(as_text=True)
        assert api.client.get("/api/v2/dags").status_code == 200  # reading with the session cookie
        body = {"is_paused": False}
        assert api.client.patch("/api/v2/dags/api_dag", json=body).status_code == 400  # no CSRF token
        response = api.client.patch("/api/v2/dags/api_dag", json=body, headers={"X-CSRFToken": csrf})
        assert response.status_code == 200 and response.json["is_paused"] is False
        users.reset_password(api.db, "op", "changed-password")
        assert api.client.get("/api/v2/dags").status_code == 401  # the session ended
    finally:
        del permissions.ROUTE_PERMISSIONS["_test_login"]  # type: ignore[attr-defined]


def test_passwords_are_stored_as_argon2id(api: Api) -> None:
    with api.db.transaction() as session:
        stored = session.scalar(sa.select(User.password_hash).where(User.username == "viewer"))
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
