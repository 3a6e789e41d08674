"""``/pools``, ``/variables`` (sensitive values masked) and ``/connections`` (password write-only)."""

from __future__ import annotations

from dagflow.services.connections import get_connection
from tests.unit.api.conftest import Api


def test_pools_crud(api: Api) -> None:
    assert [p["name"] for p in api.get("/api/v2/pools").json["pools"]] == ["default_pool"]
    created = api.call("POST", "/api/v2/pools", json={"name": "etl", "slots": 3}, role="op")
    assert created.status_code == 201 and created.json["open_slots"] == 3
    assert api.call("POST", "/api/v2/pools", json={"name": "etl", "slots": 3}).status_code == 409
    assert api.call("PATCH", "/api/v2/pools/etl", json={"slots": 5}).json["slots"] == 5
    assert api.call("POST", "/api/v2/pools", json={"name": "neg", "slots": -1}).status_code == 422
    assert api.call("DELETE", "/api/v2/pools/default_pool").status_code == 400
    assert api.call("DELETE", "/api/v2/pools/etl").status_code == 204
    assert api.get("/api/v2/pools/etl").status_code == 404


def test_variables_crud_and_masking(api: Api) -> None:
    assert api.call("POST", "/api/v2/variables", json={"key": "region", "value": "eu"}, role="op").status_code == 201
    assert api.call("POST", "/api/v2/variables", json={"key": "db_password", "value": "hunter2"}).status_code == 201
    assert api.call("POST", "/api/v2/variables", json={"key": "cfg", "value": {"a": 1}}).status_code == 201

    listed = {v["key"]: v["value"] for v in api.get("/api/v2/variables", "op").json["variables"]}
    assert listed == {"cfg": '{"a": 1}', "db_password": "***", "region": "eu"}
    assert api.get("/api/v2/variables/db_password").json["value"] == "***"
    assert "hunter2" not in api.get("/api/v2/variables").get_data(as_text=True)
    assert api.call("PATCH", "/api/v2/variables/region", json={"key": "region", "value": "us"}).json["value"] == "us"
    assert api.call("DELETE", "/api/v2/variables/region").status_code == 204
    assert api.get("/api/v2/variables/region").status_code == 404


def test_connections_never_return_the_password(api: Api) -> None:
    body = {"connection_id": "warehouse", "conn_type": "postgres", "host": "db", "login": "me", "password": "s3cret",
            "port": 5432, "extra": '{"sslmode": "require"}', "schema": "public"}  # fmt: skip
    created = api.call("POST", "/api/v2/connections", json=body)
    assert created.status_code == 201, created.json
    assert created.json["password"] is None and created.json["schema"] == "public"
    assert created.json["extra"] == '{"sslmode": "require"}'
    for path in ("/api/v2/connections", "/api/v2/connections/warehouse"):
        assert "s3cret" not in api.get(path).get_data(as_text=True)
    assert api.call("POST", "/api/v2/connections", json=body).status_code == 409
    assert (
        api.call("POST", "/api/v2/connections", json={**body, "connection_id": "x", "extra": "[1]"}).status_code == 422
    )

    patched = api.call("PATCH", "/api/v2/connections/warehouse", json={**body, "password": None, "host": "db2"})
    assert patched.status_code == 200 and patched.json["host"] == "db2"
    assert get_connection(api.db, "warehouse", show_password=True).password == "s3cret"  # kept
    assert api.call("DELETE", "/api/v2/connections/warehouse").status_code == 204
