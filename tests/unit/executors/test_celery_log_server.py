"""The worker's log server: signed requests only, nothing outside the log folder, ranges."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagflow.execution import log_server
from dagflow.execution.log_server import (
    PREFIX,
    LogServer,
    RemoteLogError,
    authorization,
    fetch_remote_log,
    is_authorized,
    resolve_inside,
)

KEY = "k3y"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LogServer, Path]]:
    base = tmp_path / "logs"
    log = base / "dag_id=d" / "run_id=manual__2024-01-01T00:00:00+00:00" / "task_id=t" / "attempt=1.log"
    log.parent.mkdir(parents=True)
    log.write_text("line one\nline two\n")
    (tmp_path / "secret.log").write_text("outside")
    (base / "escape.log").symlink_to(tmp_path / "secret.log")
    (base / "notes.txt").write_text("not a log")
    server = LogServer(base, KEY, 0, host="127.0.0.1")
    server.start()
    yield server, base
    server.stop()


def raw_get(port: int, path: str, key: str = KEY) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"Authorization": authorization(key, path)})
    status = conn.getresponse().status
    conn.close()
    return status


def test_signatures_expire_and_are_bound_to_the_path_and_key() -> None:
    header = authorization(KEY, "/log/a.log", now=1000)
    assert is_authorized(KEY, "/log/a.log", header, now=1000)
    assert not is_authorized(KEY, "/log/b.log", header, now=1000)
    assert not is_authorized("other", "/log/a.log", header, now=1000)
    assert not is_authorized(KEY, "/log/a.log", header, now=1000 + 3600)
    assert not is_authorized(KEY, "/log/a.log", authorization(KEY, "/log/a.log", now=1000 + 3600), now=1000)
    assert not is_authorized("", "/log/a.log", authorization("", "/log/a.log", now=1000), now=1000)
    assert not is_authorized(KEY, "/log/a.log", None)


@pytest.mark.parametrize(
    "relative",
    [
        "../secret.log",
        "a/../../secret.log",
        "/etc/passwd",
        "./x.log",
        "dag_id=d//attempt=1.log",
        "notes.txt",
        "escape.log",
        "",
    ],
)
def test_paths_outside_the_folder_or_not_logs_are_refused(tmp_path: Path, relative: str) -> None:
    base = tmp_path / "logs"
    base.mkdir()
    (tmp_path / "secret.log").write_text("outside")
    (base / "escape.log").symlink_to(tmp_path / "secret.log")
    assert resolve_inside(base, relative) is None


def test_a_signed_request_gets_the_log_and_a_range(served: tuple[LogServer, Path]) -> None:
    server, _ = served
    relative = "dag_id=d/run_id=manual__2024-01-01T00:00:00+00:00/task_id=t/attempt=1.log"
    assert fetch_remote_log("127.0.0.1", server.port, KEY, relative) == "line one\nline two\n"
    assert fetch_remote_log("127.0.0.1", server.port, KEY, relative, offset=5, max_bytes=3) == "one"


def test_wrong_key_traversal_and_missing_files_are_refused(served: tuple[LogServer, Path]) -> None:
    server, _ = served
    relative = "dag_id=d/run_id=manual__2024-01-01T00:00:00+00:00/task_id=t/attempt=1.log"
    with pytest.raises(RemoteLogError, match="403"):
        fetch_remote_log("127.0.0.1", server.port, "wrong", relative)
    with pytest.raises(RemoteLogError, match="404"):
        fetch_remote_log("127.0.0.1", server.port, KEY, "dag_id=d/attempt=9.log")
    for path in (
        PREFIX + "../secret.log",
        PREFIX + "%2E%2E/secret.log",
        PREFIX + "escape.log",
        PREFIX + "notes.txt",
        "/etc/passwd",
    ):
        assert raw_get(server.port, path) == 404, path
    unsigned = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    unsigned.request("GET", PREFIX + relative)
    assert unsigned.getresponse().status == 403
    unsigned.close()


def test_an_unreachable_worker_is_one_line(tmp_path: Path) -> None:
    server = LogServer(tmp_path, KEY, 0, host="127.0.0.1")
    port = server.port
    server.stop()
    with pytest.raises(RemoteLogError, match="unreachable") as err:
        fetch_remote_log("127.0.0.1", port, KEY, "a.log", timeout=2)
    assert "\n" not in str(err.value)


def test_no_secret_key_no_server(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="secret_key"):
        LogServer(tmp_path, "", 0)
    with pytest.raises(RemoteLogError, match="secret_key"):
        fetch_remote_log("127.0.0.1", 1, "", "a.log")


RELATIVE = "dag_id=d/run_id=manual__2024-01-01T00:00:00+00:00/task_id=t/attempt=1.log"


def test_the_query_is_signed_too(served: tuple[LogServer, Path]) -> None:
    """A request signed for one range cannot be replayed for another (or for the whole file)."""
    server, _ = served
    signed_for = PREFIX + RELATIVE + "?offset=0&max_bytes=4"
    header = authorization(KEY, signed_for)
    for target, status in ((signed_for, 200), (PREFIX + RELATIVE + "?offset=0", 403), (PREFIX + RELATIVE, 403)):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", target, headers={"Authorization": header})
        assert conn.getresponse().status == status, target
        conn.close()


def test_the_server_binds_loopback_by_default(tmp_path: Path) -> None:
    server = LogServer(tmp_path, KEY, 0)
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.stop()


def test_a_silent_client_is_dropped_and_busy_slots_get_503(
    served: tuple[LogServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Slow clients cannot hold the server: each is timed out, and beyond the pool a 503 comes at once."""
    monkeypatch.setattr(log_server._LogRequestHandler, "timeout", 3.0)
    server, _ = served
    silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(log_server.MAX_CONCURRENT)]
    try:
        time.sleep(0.2)  # every slot now waits on a client that sends nothing
        status_line = _raw_status(server.port, PREFIX + RELATIVE)
        assert status_line.startswith("HTTP/1.0 503")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # the silent clients are dropped after the timeout
            for conn in silent:
                conn.settimeout(0.1)
                with contextlib.suppress(OSError):
                    conn.recv(1)
            if _raw_status(server.port, PREFIX + RELATIVE).startswith("HTTP/1.0 200"):
                break
            time.sleep(0.1)
        assert _raw_status(server.port, PREFIX + RELATIVE).startswith("HTTP/1.0 200")
    finally:
        for conn in silent:
            conn.close()


def _raw_status(port: int, target: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        request = f"GET {target} HTTP/1.0\r\nAuthorization: {authorization(KEY, target)}\r\n\r\n"
        conn.sendall(request.encode())
        return conn.makefile("rb").readline().decode()


def test_a_long_log_is_fetched_whole_across_responses(
    served: tuple[LogServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_server, "MAX_RESPONSE_BYTES", 7)
    server, _ = served
    assert fetch_remote_log("127.0.0.1", server.port, KEY, RELATIVE) == "line one\nline two\n"
