"""Secrets at rest: encrypted rows, old plain rows, rotation, and what the masker learns from the DB."""

from __future__ import annotations

import sqlalchemy as sa
from cryptography.fernet import Fernet

from dagflow.db import Database
from dagflow.models import Connection, Variable
from dagflow.secrets.fernet import FernetCipher, key_file, prepend_new_key
from dagflow.secrets.masker import SecretsMasker
from dagflow.secrets.stored import register_settings_secrets, register_stored_secrets, rotate_secrets
from dagflow.services.connections import add_connection, connection_from_uri, get_connection
from dagflow.services.variables import get_variable, set_variable

PASSWORD = "pw-canary-5d1e"
TOKEN = "tok-canary-8b2f"
VARIABLE = "var-canary-3c7a"


def _raw_rows(db: Database) -> str:
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT * FROM connection")).all()
        rows += connection.execute(sa.text("SELECT * FROM variable")).all()
    return repr(rows)


def _store_canaries(db: Database) -> None:
    uri = f"http://robot:{PASSWORD}@api.example.com?token={TOKEN}&region=eu"
    add_connection(db, connection_from_uri("api", uri))
    set_variable(db, "service_api_key", VARIABLE)
    set_variable(db, "greeting", "hello there")


def test_the_raw_rows_hold_no_plaintext(db_any: Database) -> None:
    _store_canaries(db_any)
    raw = _raw_rows(db_any)
    for canary in (PASSWORD, TOKEN, VARIABLE, "hello there", "region"):
        assert canary not in raw
    assert get_variable(db_any, "service_api_key") == VARIABLE
    shown = get_connection(db_any, "api", show_password=True)
    assert (shown.password, shown.extra) == (PASSWORD, {"token": TOKEN, "region": "eu"})


def test_rows_written_before_encryption_stay_readable(db_any: Database) -> None:
    with db_any.transaction() as session:
        session.add(Connection(conn_id="old", conn_type="http", password="old-plain-pw", extra='{"a": "b"}'))
        session.add(Variable(key="old_password", val="old-plain-var"))
    assert get_connection(db_any, "old", show_password=True).password == "old-plain-pw"
    assert get_variable(db_any, "old_password") == "old-plain-var"


def test_rotation_reencrypts_with_the_first_key_and_encrypts_plain_rows(db_any: Database) -> None:
    settings = db_any.settings
    _store_canaries(db_any)
    with db_any.transaction() as session:
        session.add(Variable(key="legacy", val="legacy-plain"))
    before = _raw_rows(db_any)
    old_key = key_file(settings).read_text().strip()
    prepend_new_key(key_file(settings))
    with db_any.transaction() as session:
        report = rotate_secrets(session, FernetCipher(settings))
    assert (report.reencrypted, report.encrypted) == (4, 1)  # password, extra, 2 variables; 1 plain
    after = _raw_rows(db_any)
    assert after != before and "legacy-plain" not in after
    new_only = settings.replace(core={"fernet_key": key_file(settings).read_text().split()[0]})
    new_db = Database(new_only)
    try:
        assert get_variable(new_db, "service_api_key") == VARIABLE and get_variable(new_db, "legacy") == "legacy-plain"
        assert get_connection(new_db, "api", show_password=True).password == PASSWORD
    finally:
        new_db.dispose()
    assert key_file(settings).read_text().split()[1] == old_key


def test_the_masker_learns_every_stored_and_configured_secret(db_any: Database) -> None:
    settings = db_any.settings.replace(
        webserver={"secret_key": "web-secret-canary"}, celery={"broker_url": "redis://:broker-canary@h:6390/0"}
    )
    _store_canaries(db_any)
    masker = SecretsMasker()
    cipher = FernetCipher(settings)
    register_settings_secrets(masker, settings, cipher)
    with db_any.transaction(readonly=True) as session:
        register_stored_secrets(masker, session, cipher)
    text = f"{PASSWORD} {TOKEN} {VARIABLE} web-secret-canary broker-canary {cipher.secret_keys()[0]} hello there eu"
    assert masker.mask(text) == "*** *** *** *** *** *** hello there eu"


def test_undecryptable_rows_do_not_stop_the_masker(db_any: Database) -> None:
    _store_canaries(db_any)
    other = db_any.settings.replace(core={"fernet_key": Fernet.generate_key().decode()})
    masker = SecretsMasker()
    with db_any.transaction(readonly=True) as session:
        register_stored_secrets(masker, session, FernetCipher(other))
    assert len(masker) == 0
