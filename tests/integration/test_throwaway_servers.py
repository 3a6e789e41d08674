"""The throwaway servers of ``tests/servers.py`` do what the fault tests rely on.

Stop and kill end the server (nothing left in its process group), start comes back on
the same port, PostgreSQL keeps its data across both (a crash loses nothing committed),
Redis keeps nothing, ``close()`` leaves no directory and no process, PostgreSQL never
runs as root, and a missing binary skips the test, or fails it with
``DAGFLOW_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

import psycopg
import pytest
import redis

from tests.servers import PG_SUPERUSER, PostgresServer, RedisServer, started


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@pytest.mark.redis
def test_redis_stops_kills_and_restarts_on_its_port_and_keeps_nothing() -> None:
    with started(RedisServer) as server:
        port, directory = server.port, server.dir
        client = redis.Redis.from_url(server.url, socket_connect_timeout=2)
        client.set("k", "v")
        server.stop()
        assert not server.running() and not _accepts(port)
        server.start()
        assert server.port == port and client.get("k") is None  # its memory went with it
        client.set("k", "v")
        server.kill()
        assert not server.running() and not _accepts(port)
        server.restart()
        assert server.port == port and client.ping() and client.get("k") is None
        client.close()
    assert not directory.exists() and not _accepts(port)


@pytest.mark.postgres
def test_postgres_keeps_its_data_across_a_stop_and_a_kill() -> None:
    with started(PostgresServer) as server:
        port, directory = server.port, server.dir
        url = server.create_database().replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE t (x int)")
            conn.execute("INSERT INTO t VALUES (1)")
        if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as the postgres OS user
            assert _uid_of(server._proc.pid) == pwd.getpwnam(PG_SUPERUSER).pw_uid  # type: ignore[union-attr]
        server.stop()
        assert not _accepts(port)
        server.start()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO t VALUES (2)")
        server.kill()
        assert not server.running() and not _accepts(port)
        server.start()  # crash recovery, same port
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    assert not directory.exists() and not _accepts(port)


@pytest.mark.parametrize(("required", "outcome"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_missing_server_binary_skips_or_fails_when_services_are_required(
    monkeypatch: pytest.MonkeyPatch, required: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no Redis binary to be found
    monkeypatch.setenv("DAGFLOW_REQUIRE_SERVICES", required)
    with pytest.raises(outcome, match="is not installed: cannot start a throwaway Redis"):
        with started(RedisServer):
            pass
