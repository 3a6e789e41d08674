"""``pools``, ``variables``, ``connections`` and ``state-store`` commands."""

from __future__ import annotations


def test_pools(run_cli) -> None:
    created = run_cli("pools", "set", "etl", "4", "--description", "ETL jobs", "-o", "json")
    assert created.exit_code == 0, created.stderr
    assert created.json()[0] | {} == {
        "pool": "etl",
        "slots": 4,
        "running": 0,
        "queued": 0,
        "scheduled": 0,
        "deferred": 0,
        "open_slots": 4,
        "description": "ETL jobs",
        "include_deferred": False,
    }
    assert run_cli("pools", "set", "etl", "6").exit_code == 0
    listed = {p["pool"]: p for p in run_cli("pools", "list", "-o", "json").json()}
    assert listed["etl"]["slots"] == 6 and listed["etl"]["description"] == "ETL jobs"
    assert "default_pool" in listed
    assert run_cli("pools", "get", "etl", "-o", "plain").stdout.startswith("etl\t6\t")
    assert run_cli("pools", "delete", "etl").exit_code == 0
    missing = run_cli("pools", "delete", "etl")
    assert missing.exit_code == 1 and "'etl'" in missing.stderr
    default = run_cli("pools", "delete", "default_pool")
    assert default.exit_code == 1 and "cannot be deleted" in default.stderr
    assert run_cli("pools", "get", "etl").exit_code == 1
    assert run_cli("pools", "set", "etl", "-2").exit_code == 2  # -1 is unlimited, as in Airflow
    assert run_cli("pools", "set", "etl", "many").exit_code == 2


def test_variables(run_cli) -> None:
    assert run_cli("variables", "set", "greeting", "hello").exit_code == 0
    assert run_cli("variables", "get", "greeting").stdout == "hello\n"
    assert run_cli("variables", "set", "cfg", '{"a": [1, 2]}', "--json").exit_code == 0
    assert run_cli("variables", "get", "cfg").stdout.strip() == '{"a": [1, 2]}'
    assert run_cli("variables", "get", "cfg", "--json").json() == {"a": [1, 2]}
    assert [v["key"] for v in run_cli("variables", "list", "-o", "json").json()] == ["cfg", "greeting"]
    assert run_cli("variables", "get", "nope", "--default", "fallback").stdout == "fallback\n"
    missing = run_cli("variables", "get", "nope")
    assert missing.exit_code == 1 and "'nope'" in missing.stderr
    assert run_cli("variables", "set", "bad", "{", "--json").exit_code == 2
    not_json = run_cli("variables", "get", "greeting", "--json")
    assert not_json.exit_code == 1 and "not valid JSON" in not_json.stderr
    assert run_cli("variables", "delete", "greeting").exit_code == 0
    assert run_cli("variables", "delete", "greeting").exit_code == 1


def test_connections_from_uri_hide_the_password(run_cli) -> None:
    uri = "postgres://alice:s%40cret@db.example.com:5432/sales?sslmode=require"
    added = run_cli("connections", "add", "warehouse", "--conn-uri", uri)
    assert added.exit_code == 0, added.stderr
    assert "s@cret" not in added.stdout and "s%40cret" not in added.stdout
    got = run_cli("connections", "get", "warehouse", "-o", "json").json()
    assert got | {} == got and got["conn_type"] == "postgres" and got["host"] == "db.example.com"
    assert (got["port"], got["schema"], got["login"], got["password"]) == (5432, "sales", "alice", "***")
    assert got["extra"] == {"sslmode": "require"} and "s%40cret" not in got["uri"]
    shown = run_cli("connections", "get", "warehouse", "--show-password", "-o", "json").json()
    assert shown["password"] == "s@cret" and shown["uri"] == uri
    listed = run_cli("connections", "list", "-o", "json").json()
    assert [c["conn_id"] for c in listed] == ["warehouse"] and "s@cret" not in str(listed)
    table = run_cli("connections", "list")
    assert "s@cret" not in table.stdout and "warehouse" in table.stdout


def test_connections_from_fields_and_errors(run_cli) -> None:
    added = run_cli(
        "connections",
        "add",
        "api",
        "--conn-type",
        "http",
        "--conn-host",
        "api.example.com",
        "--conn-port",
        "443",
        "--conn-password",
        "tok",
        "--conn-extra",
        '{"verify": false}',
    )
    assert added.exit_code == 0, added.stderr
    got = run_cli("connections", "get", "api", "-o", "json").json()
    assert (got["host"], got["port"], got["password"], got["extra"]) == (
        "api.example.com",
        443,
        "***",
        {"verify": False},
    )
    duplicate = run_cli("connections", "add", "api", "--conn-type", "http")
    assert duplicate.exit_code == 1 and "'api'" in duplicate.stderr
    assert run_cli("connections", "add", "x").exit_code == 2
    assert run_cli("connections", "add", "x", "--conn-uri", "http://h", "--conn-type", "http").exit_code == 2
    assert run_cli("connections", "add", "x", "--conn-uri", "no-scheme").exit_code == 2
    assert run_cli("connections", "add", "x", "--conn-uri", "http://h:notaport").exit_code == 2
    assert run_cli("connections", "add", "x", "--conn-type", "http", "--conn-extra", "[1]").exit_code == 2
    assert run_cli("connections", "delete", "api").exit_code == 0
    missing = run_cli("connections", "get", "api")
    assert missing.exit_code == 1 and "'api'" in missing.stderr
    assert run_cli("connections", "delete", "api").exit_code == 1


def test_state_store(run_cli) -> None:
    assert run_cli("state-store", "set", "cursor", '{"offset": 10}').exit_code == 0
    assert run_cli("state-store", "get", "cursor").json() == {"offset": 10}
    assert run_cli("state-store", "set", "name", "plain text", "-n", "team").exit_code == 0
    assert run_cli("state-store", "get", "name", "--namespace", "team").json() == "plain text"
    assert run_cli("state-store", "set", "n", "NaN").exit_code == 0
    assert run_cli("state-store", "get", "n").json() == "NaN"
    listed = run_cli("state-store", "list", "-o", "json").json()
    assert {(r["namespace"], r["key"]) for r in listed} == {("default", "cursor"), ("team", "name"), ("default", "n")}
    missing = run_cli("state-store", "get", "name")
    assert missing.exit_code == 1 and "'name'" in missing.stderr and "'default'" in missing.stderr
    assert run_cli("state-store", "delete", "name", "-n", "team").exit_code == 0
    assert run_cli("state-store", "delete", "name", "-n", "team").exit_code == 1
