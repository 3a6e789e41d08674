"""Task logs across hosts: a worker serves its log folder, a reader fetches one try's log.

A Celery worker writes each try's log on its own disk (``logging.base_log_folder``).
``LogServer`` serves that folder read-only over HTTP on ``celery.worker_log_server_port``;
``fetch_remote_log`` is what ``logs.read_log`` calls when a log is not on the reader's disk
and the task instance names the host that ran it.

Every request is signed: ``Authorization: dagflow-log <expires>.<hmac>`` where the HMAC
(SHA-256, key ``webserver.secret_key``) covers the request path and the expiry, which is
at most ``SIGNATURE_TTL_S`` seconds ahead. Only ``*.log`` files strictly inside the
folder are served: the path is resolved (symlinks and ``..`` included) and must stay
below the folder, so no request can read anything else on the worker.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

log = logging.getLogger(__name__)

#: Seconds a signed request stays valid (clocks of reader and worker may differ a little).
SIGNATURE_TTL_S = 30
#: Seconds a reader waits for a worker's log server.
FETCH_TIMEOUT_S = 5.0
PREFIX = "/log/"
_SCHEME = "dagflow-log"


class RemoteLogError(Exception):
    """The log could not be fetched from the worker (unreachable, refused, not found)."""


def signature(secret_key: str, path: str, expires: int) -> str:
    """The HMAC of ``path`` and ``expires`` under ``secret_key`` (hex)."""
    message = f"{path}\n{expires}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def authorization(secret_key: str, path: str, *, now: float | None = None) -> str:
    """The ``Authorization`` header value for a request of ``path``."""
    expires = int(now if now is not None else time.time()) + SIGNATURE_TTL_S
    return f"{_SCHEME} {expires}.{signature(secret_key, path, expires)}"


def is_authorized(secret_key: str, path: str, header: str | None, *, now: float | None = None) -> bool:
    """True if ``header`` signs ``path`` with ``secret_key`` and has not expired."""
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
    return hmac.compare_digest(given, signature(secret_key, path, expires))


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

    def __init__(self, base_log_folder: Path, secret_key: str, port: int, host: str = "0.0.0.0") -> None:
        if not secret_key:
            raise ValueError("webserver.secret_key is empty: the log server needs it to check requests")
        handler = type("Handler", (_LogRequestHandler,), {"base": Path(base_log_folder), "secret_key": secret_key})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

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


class _LogRequestHandler(BaseHTTPRequestHandler):
    base: Path
    secret_key: str
    server_version = "dagflow-log-server"

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if not url.path.startswith(PREFIX):
            self._reply(HTTPStatus.NOT_FOUND, b"not found\n")
            return
        if not is_authorized(self.secret_key, url.path, self.headers.get("Authorization")):
            self._reply(HTTPStatus.FORBIDDEN, b"forbidden: bad or expired signature\n")
            return
        target = resolve_inside(self.base, unquote(url.path[len(PREFIX) :]))
        if target is None or not target.is_file():
            self._reply(HTTPStatus.NOT_FOUND, b"no such log\n")
            return
        query = parse_qs(url.query)
        offset = _int(query.get("offset"), 0) or 0
        self._reply(HTTPStatus.OK, read_range(target, offset, _int(query.get("max_bytes"), None)))

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
    path = PREFIX + quote(relative)
    query = f"?offset={max(offset, 0)}" + (f"&max_bytes={max_bytes}" if max_bytes is not None else "")
    request = urllib.request.Request(
        f"http://{hostname}:{port}{path}{query}", headers={"Authorization": authorization(secret_key, path)}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read()
    except urllib.error.HTTPError as exc:
        raise RemoteLogError(f"worker answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RemoteLogError(f"unreachable: {reason}") from None
    return data.decode(errors="replace")
