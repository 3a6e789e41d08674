"""``SmtpNotifier``: an email over SMTP (Airflow's ``SmtpNotifier``)."""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from dagflow.exceptions import ConnectionNotFound
from dagflow.notifications.base import BaseNotifier, connection, describe
from dagflow.sdk.runtime import NoRuntimeError

#: The connection used when neither ``smtp_conn_id`` nor ``smtp_host`` is given (Airflow's name).
DEFAULT_CONN_ID = "smtp_default"


class SmtpNotifier(BaseNotifier):
    """Send an email: ``to`` (one address or a list), ``subject`` and ``html_content`` are templates.

    The server is the connection ``smtp_conn_id`` (host, port, login, password; extra
    ``{"ssl": true}`` or ``{"starttls": true}``) when given, else ``smtp_host``/``smtp_port``
    with ``smtp_user``/``smtp_password`` when a host is given, else the connection
    ``smtp_default`` (Airflow's default) if it exists, else ``localhost:25``. The default subject and
    body name the DAG, run, task, try, state and error.
    """

    template_fields: Sequence[str] = ("from_email", "to", "subject", "html_content", "cc", "bcc")

    def __init__(
        self,
        to: str | Sequence[str],
        *,
        from_email: str = "dagflow@localhost",
        subject: str | None = None,
        html_content: str | None = None,
        cc: str | Sequence[str] | None = None,
        bcc: str | Sequence[str] | None = None,
        smtp_conn_id: str | None = None,
        smtp_host: str | None = None,
        smtp_port: int = 25,
        smtp_user: str | None = None,
        smtp_password: str | None = None,
        smtp_ssl: bool = False,
        smtp_starttls: bool = False,
        custom_headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """An email notifier."""
        self.to = to
        self.from_email = from_email
        self.subject = subject
        self.html_content = html_content
        self.cc = cc
        self.bcc = bcc
        self.smtp_conn_id = smtp_conn_id
        self.smtp_host = smtp_host
        self.smtp_port = smtp_port
        self.smtp_user = smtp_user
        self.smtp_password = smtp_password
        self.smtp_ssl = smtp_ssl
        self.smtp_starttls = smtp_starttls
        self.custom_headers = dict(custom_headers or {})
        self.timeout = timeout

    def message(self, context: Mapping[str, Any]) -> EmailMessage:
        """The email to send."""
        line = describe(context)
        message = EmailMessage()
        message["Subject"] = self.subject or f"[dagflow] {line}"
        message["From"] = self.from_email
        message["To"] = ", ".join(_addresses(self.to))
        if self.cc:
            message["Cc"] = ", ".join(_addresses(self.cc))
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="dagflow")
        for name, value in self.custom_headers.items():
            message[name] = value
        message.set_content(line)
        html = self.html_content or f"<p>{_escape(line)}</p>"
        message.add_alternative(html, subtype="html")
        return message

    def notify(self, context: Mapping[str, Any]) -> None:
        """Send the email to ``to``, ``cc`` and ``bcc``."""
        message = self.message(context)
        recipients = _addresses(self.to) + _addresses(self.cc) + _addresses(self.bcc)
        host, port, user, password, use_ssl, starttls = self._server()
        smtp_class = smtplib.SMTP_SSL if use_ssl else smtplib.SMTP
        with smtp_class(host, port, timeout=self.timeout) as smtp:
            if starttls:
                smtp.starttls(context=ssl.create_default_context())
            if user:
                smtp.login(user, password or "")
            smtp.send_message(message, from_addr=self.from_email, to_addrs=recipients)

    def _server(self) -> tuple[str, int, str | None, str | None, bool, bool]:
        conn_id = self.smtp_conn_id
        if conn_id is None and self.smtp_host is None and _has_connection(DEFAULT_CONN_ID):
            conn_id = DEFAULT_CONN_ID
        if conn_id is None:
            return (
                self.smtp_host or "localhost",
                self.smtp_port,
                self.smtp_user,
                self.smtp_password,
                self.smtp_ssl,
                self.smtp_starttls,
            )
        conn = connection(conn_id)
        extra = conn.get("extra") or {}
        if isinstance(extra, str):
            extra = json.loads(extra)
        extra = extra if isinstance(extra, Mapping) else {}
        use_ssl = bool(extra.get("ssl", False))
        port = int(conn.get("port") or (465 if use_ssl else 25))
        return (
            str(conn.get("host") or "localhost"),
            port,
            conn.get("login"),
            conn.get("password"),
            use_ssl,
            bool(extra.get("starttls", False)),
        )

    def __repr__(self) -> str:
        return f"<SmtpNotifier to={self.to!r}>"


def _has_connection(conn_id: str) -> bool:
    """True when a task runtime is installed and knows ``conn_id``."""
    try:
        connection(conn_id)
    except (NoRuntimeError, ConnectionNotFound):
        return False
    return True


def _addresses(value: str | Sequence[str] | None) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return [str(part) for part in value]


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
