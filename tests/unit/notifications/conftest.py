"""In-test servers on 127.0.0.1 for the notifiers: a tiny SMTP server and a webhook (HTTP) server.

Both run in a thread of the test process and record what they receive; the notifiers
under test talk to them over real sockets (from forked task processes too).
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    """What a server got, guarded by a condition so tests can wait for it."""

    items: list[Any] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Any) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        with self.cond:
            self.cond.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP (RFC 5321) for ``smtplib``: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 test SMTP ready")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb == "HELO":
                self.reply("250 test")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip().strip("<>").split(">")[0], []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                self._data(sender, recipients)
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 OK")

    def _data(self, sender: str, recipients: list[str]) -> None:
        lines = []
        while (line := self.rfile.readline()) not in (b".\r\n", b""):
            lines.append(line[1:] if line.startswith(b"..") else line)
        message = message_from_bytes(b"".join(lines), policy=policy.default)
        self.server.received.add(Mail(sender, recipients, message))  # type: ignore[attr-defined]


class _WebhookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status = self.server.status  # type: ignore[attr-defined]
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok")
        self.server.received.add((self.path, dict(self.headers), json.loads(body)))  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class Server:
    host: str
    port: int
    received: Received
    server: Any

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/T0/B0"


def _serve(server: Any) -> Iterator[Server]:
    server.received = Received()
    thread = threading.Thread(target=server.serve_forever, name="notify-test-server", daemon=True)
    thread.start()
    try:
        yield Server("127.0.0.1", server.server_address[1], server.received, server)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    """A recording SMTP server on 127.0.0.1 (a free port)."""
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    yield from _serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler))


@pytest.fixture
def webhook_server() -> Iterator[Server]:
    """A recording HTTP server on 127.0.0.1 that answers POSTs with ``server.status`` (200)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _WebhookHandler)
    server.status = 200  # type: ignore[attr-defined]
    yield from _serve(server)
