"""Secrets held in the metadata DB and the settings: registering them with a masker, rotating keys.

What counts as a secret (as Airflow's masker): every connection password, the values of
connection extras under sensitive keys, the values of variables whose key is sensitive
(``SecretsMasker.should_hide_value_for_key``), and the settings' own secrets (the web
server's secret key, the fernet keys, passwords inside the database, broker and storage
URLs).
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection as SAConnection

from dagflow.exceptions import FernetKeyError
from dagflow.models.connection import Connection
from dagflow.models.encrypted import unseal
from dagflow.models.variable import Variable

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from dagflow.config import Settings
    from dagflow.secrets.fernet import FernetCipher
    from dagflow.secrets.masker import SecretsMasker

log = logging.getLogger(__name__)


def register_connection(masker: SecretsMasker, password: str | None, extra: dict[str, Any] | None) -> None:
    """A connection's password, and its extras under sensitive keys."""
    masker.add(password)
    if extra:
        masker.add(extra)


def register_variable(masker: SecretsMasker, key: str, value: Any) -> None:
    """A variable's value if its key is sensitive; JSON values also by their inner keys."""
    masker.add(value, key)
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            value = json.loads(value)
        except ValueError:
            return
    if isinstance(value, (dict, list)):
        masker.add(value, key)


def register_settings_secrets(masker: SecretsMasker, settings: Settings, cipher: FernetCipher) -> None:
    """The web server's secret key, the fernet keys, and passwords inside configured URLs."""
    masker.add(settings.webserver.secret_key)
    try:
        masker.add(cipher.secret_keys())
    except OSError:
        log.warning("cannot read the fernet key file to mask its keys", exc_info=True)
    for url in (settings.database.sql_alchemy_conn, settings.celery.broker_url, settings.storage.url):
        masker.add(url_password(url))


def register_stored_secrets(masker: SecretsMasker, session: Session | SAConnection, cipher: FernetCipher) -> None:
    """Every connection password and sensitive extra, and every variable with a sensitive key.

    Runs before every try (in the claim's reads): one prepared query on the session's
    connection, or on ``session`` itself if it is a Core connection (Core rows, no ORM).
    """
    undecryptable = 0
    connection = session if isinstance(session, SAConnection) else session.connection()
    for kind, name, value, is_encrypted, extra, is_extra_encrypted in connection.execute(
        _secret_rows(masker.names, connection.dialect)
    ):
        what = f"{kind} {name!r}"
        try:
            value = unseal(value, is_encrypted, cipher, what=what)
            if kind == "variable":
                register_variable(masker, name, value)
            else:
                text = unseal(extra, is_extra_encrypted, cipher, what=what)
                register_connection(masker, value, json.loads(text) if text else None)
        except (FernetKeyError, ValueError):
            undecryptable += 1
    if undecryptable:
        log.warning("%d stored secrets cannot be decrypted with the fernet key: they cannot be masked", undecryptable)


@functools.lru_cache(maxsize=8)
def _secret_rows(names: frozenset[str], dialect: sa.Dialect) -> sa.TextClause:
    """``(kind, name, value, is_encrypted, extra, is_extra_encrypted)`` of the rows that may hold
    secrets: connections with a password or extras, variables with a sensitive key.

    Compiled once to plain SQL: a text statement has no cache key to compute on each try.
    """
    c, v = Connection.__table__.c, Variable.__table__.c
    connections = sa.select(
        sa.literal("connection"), c.conn_id, c.password, c.is_encrypted, c.extra, c.is_extra_encrypted
    ).where(sa.or_(c.password.is_not(None), c.extra.is_not(None)))
    key = sa.func.lower(v.key)
    sensitive = sa.or_(*(key.contains(name, autoescape=True) for name in sorted(names)))
    variables = sa.select(
        sa.literal("variable"), v.key, v.val, v.is_encrypted, sa.null().cast(sa.Text), sa.false()
    ).where(sensitive, v.val.is_not(None))
    statement = sa.union_all(connections, variables)
    return sa.text(str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True})))


def url_password(url: str) -> str | None:
    """The password inside a URL (``scheme://user:password@host``), or None."""
    if "@" not in url:
        return None
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


@dataclass(frozen=True)
class RotationReport:
    """How many stored values ``rotate_secrets`` re-encrypted, and how many it encrypted first time."""

    reencrypted: int
    encrypted: int


def rotate_secrets(session: Session, cipher: FernetCipher) -> RotationReport:
    """Re-encrypt every encrypted value with the first key, and encrypt every plain one (Airflow's rotation)."""
    counts = [0, 0]

    def rotated(stored: str, encrypted: bool, what: str) -> str:
        counts[0 if encrypted else 1] += 1
        return cipher.rotate(stored, what=what) if encrypted else cipher.encrypt(stored)

    for conn in session.scalars(sa.select(Connection).order_by(Connection.conn_id)):
        what = f"connection {conn.conn_id!r}"
        if conn.password is not None:
            conn.password, conn.is_encrypted = rotated(conn.password, conn.is_encrypted, what), True
        if conn.extra is not None:
            conn.extra, conn.is_extra_encrypted = rotated(conn.extra, conn.is_extra_encrypted, what), True
    for var in session.scalars(sa.select(Variable).order_by(Variable.key)):
        if var.val is not None:
            var.val, var.is_encrypted = rotated(var.val, var.is_encrypted, f"variable {var.key!r}"), True
    return RotationReport(reencrypted=counts[0], encrypted=counts[1])
