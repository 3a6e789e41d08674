"""Connections: how tasks reach external systems (host, login, password, extras).

``password`` and ``extra`` (a JSON object) are stored encrypted when written through
``set_password``/``set_extra`` with a cipher; ``is_encrypted``/``is_extra_encrypted``
say so (Airflow's columns). Read them with ``get_password``/``get_extra``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base
from dagflow.models.encrypted import Cipher, seal, unseal


class Connection(Base):
    """One named connection; ``extra`` is the text of a JSON object (or its fernet token)."""

    __tablename__ = "connection"

    conn_id: Mapped[str] = mapped_column(sa.String(250), primary_key=True)
    conn_type: Mapped[str] = mapped_column(sa.String(500))
    host: Mapped[str | None] = mapped_column(sa.String(500))
    schema: Mapped[str | None] = mapped_column(sa.String(500))
    login: Mapped[str | None] = mapped_column(sa.Text)
    password: Mapped[str | None] = mapped_column(sa.Text)
    port: Mapped[int | None] = mapped_column()
    extra: Mapped[str | None] = mapped_column(sa.Text)
    description: Mapped[str | None] = mapped_column(sa.Text)
    is_encrypted: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    is_extra_encrypted: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    @property
    def _what(self) -> str:
        return f"connection {self.conn_id!r}"

    def get_password(self, cipher: Cipher | None) -> str | None:
        """The password in clear text."""
        return unseal(self.password, self.is_encrypted, cipher, what=self._what)

    def set_password(self, value: str | None, cipher: Cipher | None) -> None:
        """Store ``value`` (encrypted when a cipher is given)."""
        self.password, self.is_encrypted = seal(value, cipher)

    def get_extra(self, cipher: Cipher | None) -> dict[str, Any]:
        """The extras as a dict (``{}`` when none)."""
        text = unseal(self.extra, self.is_extra_encrypted, cipher, what=self._what)
        return dict(json.loads(text)) if text else {}

    def set_extra(self, value: dict[str, Any] | None, cipher: Cipher | None) -> None:
        """Store the extras as JSON text (encrypted when a cipher is given)."""
        text = json.dumps(value, separators=(",", ":")) if value else None
        self.extra, self.is_extra_encrypted = seal(text, cipher)

    def get_uri(self, cipher: Cipher | None = None) -> str:
        """The connection as an Airflow-style URI: ``type://login:password@host:port/schema?extra``."""
        return connection_uri(
            conn_type=self.conn_type,
            host=self.host,
            schema=self.schema,
            login=self.login,
            password=self.get_password(cipher),
            port=self.port,
            extra=self.get_extra(cipher),
        )

    @classmethod
    def from_uri(
        cls, conn_id: str, uri: str, *, description: str | None = None, cipher: Cipher | None = None
    ) -> Connection:
        """Build a connection from a URI written by ``get_uri`` (or by hand)."""
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ValueError(f"connection URI {uri!r} has no scheme (e.g. postgres://...)")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra: dict[str, Any] | None = query or None
        if "__extra__" in query:
            extra = json.loads(query["__extra__"])
        conn = cls(
            conn_id=conn_id,
            conn_type=parts.scheme.replace("-", "_"),
            host=unquote(parts.hostname or "") or None,
            schema=unquote(parts.path.lstrip("/")) or None,
            login=unquote(parts.username) if parts.username is not None else None,
            port=parts.port,
            description=description,
        )
        conn.set_password(unquote(parts.password) if parts.password is not None else None, cipher)
        conn.set_extra(extra, cipher)
        return conn


def connection_uri(
    *,
    conn_type: str,
    host: str | None,
    schema: str | None,
    login: str | None,
    password: str | None,
    port: int | None,
    extra: dict[str, Any] | None,
) -> str:
    """``type://login:password@host:port/schema?extra`` from plain field values."""
    scheme = conn_type.replace("_", "-")
    auth = ""
    if login is not None or password is not None:
        auth = quote(login or "", safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        auth += "@"
    netloc = auth + quote(host or "", safe="")
    if port is not None:
        netloc += f":{port}"
    uri = f"{scheme}://{netloc}"
    if schema:
        uri += "/" + quote(schema, safe="")
    if extra:
        flat = all(isinstance(v, str) for v in extra.values())
        query = urlencode(extra) if flat else urlencode({"__extra__": json.dumps(extra)})
        uri += "?" + query
    return uri
