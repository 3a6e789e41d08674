"""The UI's frame: login and logout, ``next=`` stays on the site, CSRF on every POST, security headers, assets."""

from __future__ import annotations

import pytest

from dagflow.webapp import create_app
from dagflow.www.common import local_path
from tests.unit.www.conftest import PASSWORD, Ui, csrf_token


def test_anonymous_page_goes_to_login_and_back(ui: Ui) -> None:
    client = ui.app.test_client()
    response = client.get("/?search=ui")

    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/?search%3Dui"
    login_page = client.get(response.headers["Location"])
    token = csrf_token(login_page)
    form = {"username": "viewer", "password": PASSWORD, "csrf_token": token, "next": "/?search=ui"}
    after = client.post("/login", data=form)
    assert after.status_code == 303 and after.headers["Location"] == "/?search=ui"
    assert "ui_dag" in client.get("/?search=ui").get_data(as_text=True)


def test_a_wrong_password_stays_on_the_form(ui: Ui) -> None:
    client = ui.app.test_client()
    token = csrf_token(client.get("/login"))
    response = client.post("/login", data={"username": "viewer", "password": "nope", "csrf_token": token})

    assert response.status_code == 401
    assert "invalid username or password" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_login_without_the_csrf_token_is_refused(ui: Ui) -> None:
    client = ui.app.test_client()
    response = client.post("/login", data={"username": "viewer", "password": PASSWORD})

    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/dags/x?y=1", "/dags/x?y=1"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\nSet-Cookie:x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_next_only_goes_to_a_path_on_this_site(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


def test_login_with_a_foreign_next_lands_on_the_dag_list(ui: Ui) -> None:
    client = ui.app.test_client()
    token = csrf_token(client.get("/login?next=//evil.example"))
    form = {"username": "op", "password": PASSWORD, "csrf_token": token, "next": "https://evil.example/"}

    assert client.post("/login", data=form).headers["Location"] == "/"


def test_a_session_post_without_csrf_is_refused(ui: Ui) -> None:
    client = ui.app.test_client()
    client.post(
        "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": csrf_token(client.get("/login"))}
    )
    response = client.post("/logout")

    assert response.status_code == 400
    assert client.get("/").status_code == 200
    assert "text/html" in response.content_type


def test_logout_is_a_post_that_ends_the_session(ui: Ui) -> None:
    client = ui.app.test_client()
    client.post(
        "/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": csrf_token(client.get("/login"))}
    )
    token = csrf_token(client.get("/"))

    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["/", "/login", "/api/v2/dags", "/nowhere", "/static/ui/htmx.min.js"])
def test_every_response_has_the_security_headers(ui: Ui, path: str) -> None:
    headers = ui.get(path).headers
    csp = headers["Content-Security-Policy"]

    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_session_cookie_is_httponly_and_lax(ui: Ui) -> None:
    client = ui.app.test_client()
    token = csrf_token(client.get("/login"))
    response = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))

    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_assets_are_served_without_login_and_pages_carry_no_inline_script(ui: Ui) -> None:
    client = ui.app.test_client()
    htmx = client.get("/static/ui/htmx.min.js")
    page = ui.get("/").get_data(as_text=True)

    assert htmx.status_code == 200 and b"htmx" in htmx.data
    assert "<script>" not in page and " on" + "click=" not in page
    assert 'src="/static/ui/htmx.min.js"' in page


def test_an_unknown_page_is_an_html_404_inside_the_layout(ui: Ui) -> None:
    response = ui.get("/no/such/page")

    assert response.status_code == 404
    assert "text/html" in response.content_type
    assert 'href="/"' in response.get_data(as_text=True)


def test_the_api_still_answers_problem_json(ui: Ui) -> None:
    response = ui.get("/api/v2/dags/no_such_dag")

    assert response.status_code == 404 and response.is_json


def test_login_attempts_are_rate_limited_per_address(ui: Ui) -> None:
    app = create_app(ui.settings.replace(api={"login_rate_limit": "2 per minute"}), db=ui.db)
    client = app.test_client()
    token = csrf_token(client.get("/login"))
    statuses = [
        client.post("/login", data={"username": "viewer", "password": "nope", "csrf_token": token}).status_code
        for _ in range(3)
    ]

    assert statuses == [401, 401, 429]
    assert client.get("/login").status_code == 200  # reading the form is not limited
