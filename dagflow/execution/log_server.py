"""Task logs across hosts: a worker serves its log folder, a reader fetches one try's log.

A Celery worker writes each try's log on its own disk (``logging.base_log_folder``).
``LogServer`` serves that folder read-only over HTTP on ``celery.worker_log_server_port``;
``fetch_remote_log`` is what ``logs.read_log`` calls when a log is not on the reader's disk
and the task instance names the host that ran it.

Every request is signed: ``Authorization: dagflow-log <expires>.<hmac>`` where the HMAC
(SHA-256, the deployment's secret key) covers the request target (path and query) and
the expiry, which is at most ``SIGNATURE_TTL_S`` seconds ahead: a captured request can
only be replayed, unchanged, for that long. Only ``*.log`` files strictly inside the
folder are served: the path is resolved (symlinks and ``..`` included) and must stay
below the folder, so no request can read anything else on the worker.

The server binds ``celery.worker_log_server_host`` (127.0.0.1 unless readers on other
hosts need it), answers at most ``MAX_CONCURRENT`` requests at once (a 503 beyond), gives
up on a client that sends nothing for ``REQUEST_TIMEOUT_S`` and sends at most
``MAX_RESPONSE_BYTES`` per request.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from dagflow.execution.signing import hmac_hex

log = logging.getLogger(__name__)

#: Seconds a signed request stays valid (clocks of reader and worker may differ a little).
SIGNATURE_TTL_S = 30
#: Seconds a reader waits for a worker's log server.
FETCH_TIMEOUT_S = 5.0
#: Seconds the server waits on a silent client before closing the connection.
REQUEST_TIMEOUT_S = 10.0
#: Requests served at once; more get 503 at once instead of a thread each.
MAX_CONCURRENT = 8
#: Most bytes one response carries (a reader follows a longer log with ``offset``).
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
PREFIX = "/log/"
_SCHEME = "dagflow-log"


class RemoteLogError(Exception):
    """The log could not be fetched from the worker (unreachable, refused, not found)."""


def signature(secret_key: str, target: str, expires: int) -> str:
    """The HMAC of the request ``target`` (path and query) and ``expires`` under ``secret_key`` (hex)."""
    return hmac_hex(secret_key, f"{target}\n{expires}".encode())


def authorization(secret_key: str, target: str, *, now: float | None = None) -> str:
    """The ``Authorization`` header value for a request of ``target`` (path and query)."""
    expires = int(now if now is not None else time.time()) + SIGNATURE_TTL_S
    return f"{_SCHEME} {expires}.{signature(secret_key, target, expires)}"


def is_authorized(secret_key: str, target: str, header: str | None, *, now: float | None = None) -> bool:
    """True if ``header`` signs ``target`` (path and query) with ``secret_key`` and has not expired."""
    if not secret_key or not header:
        return False
    scheme, _, token = header.partition(" ")
    expires_text, _, given = token.partition(".")
    if scheme != _SCHEME or not expires_text.isdigit():
        return False
    expires = int(expires_text)
    current = now if now is not None else time.time()
    if not current <= expires <= current + 2 * SIGNATURE_TTL_S:
        return False
    return hmac.compare_digest(given, signature(secret_key, target, expires))


def resolve_inside(base: Path, relative: str) -> Path | None:
    """The ``*.log`` file ``relative`` names under ``base``, or None if it would leave ``base``."""
    if not relative or relative.startswith("/") or "\x00" in relative:
        return None
    parts = relative.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    root = base.resolve()
    target = (root / relative).resolve()
    if root not in target.parents or target.suffix != ".log":
        return None
    return target


def read_range(path: Path, offset: int, max_bytes: int | None) -> bytes:
    """Bytes of ``path`` from ``offset`` (at most ``max_bytes``)."""
    with path.open("rb") as fh:
        fh.seek(max(offset, 0))
        return fh.read() if max_bytes is None else fh.read(max(max_bytes, 0))


class LogServer:
    """Serves ``base_log_folder`` (read-only, signed requests) from a daemon thread."""

    def __init__(self, base_log_folder: Path, secret_key: str, port: int, host: str = "127.0.0.1") -> None:
        if not secret_key:
            raise ValueError("webserver.secret_key is empty: the log server needs it to check requests")
        handler = type("Handler", (_LogRequestHandler,), {"base": Path(base_log_folder), "secret_key": secret_key})
        self._server = _BoundedServer((host, port), handler)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address bound."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port actually bound (useful when asked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Serve from a daemon thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="dagflow-log-server", daemon=True)
        self._thread.start()

    def close_inherited_socket(self) -> None:
        """In a process forked from the server's: close this process's copy of the listening socket."""
        self._server.socket.close()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()


class _BoundedServer(ThreadingHTTPServer):
    """A thread per request, at most ``MAX_CONCURRENT`` at once; a 503 for the rest."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            _refuse_busy(request)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def _refuse_busy(request: Any) -> None:
    body = b"busy: too many log requests at once\n"
    head = f"HTTP/1.0 503 Service Unavailable\r\nContent-Length: {len(body)}\r\nRetry-After: 1\r\n\r\n"
    try:
        request.settimeout(1.0)
        request.sendall(head.encode() + body)
    except OSError:
        pass


class _LogRequestHandler(BaseHTTPRequestHandler):
    base: Path
    secret_key: str
    server_version = "dagflow-log-server"
    timeout = REQUEST_TIMEOUT_S  # a client silent this long is dropped (socket timeout)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith(PREFIX):
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n")
            return
        target = url.path + (f"?{url.query}" if url.query else "")
        if not is_authorized(self.secret_key, target, self.headers.get("Authorization")):
            self._reply(HTTPStatus.FORBIDDEN, b"forbidden: bad or expired signature\n")
            return
        found = resolve_inside(self.base, unquote(url.path[len(PREFIX) :]))
        if found is None or not found.is_file():
            self._reply(HTTPStatus.NOT_FOUND, b"no such log\n")
            return
        query = parse_qs(url.query)
        offset = _int(query.get("offset"), 0) or 0
        asked = _int(query.get("max_bytes"), None)
        limit = MAX_RESPONSE_BYTES if asked is None else min(max(asked, 0), MAX_RESPONSE_BYTES)
        self._reply(HTTPStatus.OK, read_range(found, offset, limit))

    def _reply(self, status: HTTPStatus, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base signature
        log.debug("log server: " + format, *args)


def _int(values: list[str] | None, default: int | None) -> int | None:
    if not values or not values[0].lstrip("-").isdigit():
        return default
    return int(values[0])


def fetch_remote_log(
    hostname: str,
    port: int,
    secret_key: str,
    relative: str,
    *,
    offset: int = 0,
    max_bytes: int | None = None,
    timeout: float = FETCH_TIMEOUT_S,
) -> str:
    """The log ``relative`` (a path under the worker's log folder) from ``hostname:port``.

    Raises ``RemoteLogError`` with one line when it cannot be fetched.
    """
    if not secret_key:
        raise RemoteLogError("webserver.secret_key is not set (workers and readers must share it)")
    if max_bytes is not None:
        return _fetch(hostname, port, secret_key, relative, offset, max_bytes, timeout).decode(errors="replace")
    chunks = []  # the whole log: the server sends at most MAX_RESPONSE_BYTES at a time
    while True:
        chunk = _fetch(hostname, port, secret_key, relative, offset, None, timeout)
        chunks.append(chunk)
        offset += len(chunk)
        if len(chunk) < MAX_RESPONSE_BYTES:
            return b"".join(chunks).decode(errors="replace")


def _fetch(
    hostname: str, port: int, secret_key: str, relative: str, offset: int, max_bytes: int | None, timeout: float
) -> bytes:
    target = PREFIX + quote(relative) + f"?offset={max(offset, 0)}"
    if max_bytes is not None:
        target += f"&max_bytes={max_bytes}"
    request = urllib.request.Request(
        f"http://{hostname}:{port}{target}", headers={"Authorization": authorization(secret_key, target)}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise RemoteLogError(f"worker answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteLogError(f"unreachable: {reason}") from None
    return data
