"""Connections: how tasks reach external systems (host, login, password, extras)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from dagflow.models.base import Base, JSONText


class Connection(Base):
    """One named connection; ``extra`` is a JSON object of driver-specific options."""

    __tablename__ = "connection"

    conn_id: Mapped[str] = mapped_column(sa.String(250), primary_key=True)
    conn_type: Mapped[str] = mapped_column(sa.String(500))
    host: Mapped[str | None] = mapped_column(sa.String(500))
    schema: Mapped[str | None] = mapped_column(sa.String(500))
    login: Mapped[str | None] = mapped_column(sa.Text)
    password: Mapped[str | None] = mapped_column(sa.Text)
    port: Mapped[int | None] = mapped_column()
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONText)
    description: Mapped[str | None] = mapped_column(sa.Text)

    def get_uri(self) -> str:
        """The connection as an Airflow-style URI: ``type://login:password@host:port/schema?extra``."""
        scheme = self.conn_type.replace("_", "-")
        auth = ""
        if self.login is not None or self.password is not None:
            auth = quote(self.login or "", safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        netloc = auth + quote(self.host or "", safe="")
        if self.port is not None:
            netloc += f":{self.port}"
        uri = f"{scheme}://{netloc}"
        if self.schema:
            uri += "/" + quote(self.schema, safe="")
        if self.extra:
            flat = all(isinstance(v, str) for v in self.extra.values())
            query = urlencode(self.extra) if flat else urlencode({"__extra__": json.dumps(self.extra)})
            uri += "?" + query
        return uri

    @classmethod
    def from_uri(cls, conn_id: str, uri: str, *, description: str | None = None) -> Connection:
        """Build a connection from a URI written by ``get_uri`` (or by hand)."""
        parts = urlsplit(uri)
        if not parts.scheme:
            raise ValueError(f"connection URI {uri!r} has no scheme (e.g. postgres://...)")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra: dict[str, Any] | None = query or None
        if "__extra__" in query:
            extra = json.loads(query["__extra__"])
        return cls(
            conn_id=conn_id,
            conn_type=parts.scheme.replace("-", "_"),
            host=unquote(parts.hostname or "") or None,
            schema=unquote(parts.path.lstrip("/")) or None,
            login=unquote(parts.username) if parts.username is not None else None,
            password=unquote(parts.password) if parts.password is not None else None,
            port=parts.port,
            extra=extra,
            description=description,
        )
