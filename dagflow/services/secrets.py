"""Secret services: rotate the fernet key, and a masker for what the CLI and API show.

``rotate_fernet_key`` is Airflow's ``rotate-fernet-key``: every encrypted connection
password/extra and variable is re-encrypted with the first key, and every value still
stored in plain text (written before encryption existed) is encrypted. With
``generate_key`` a fresh key is first put at the top of ``$DAGFLOW_HOME/fernet.key``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dagflow.db import Database
from dagflow.exceptions import ConfigError
from dagflow.secrets.fernet import FernetCipher, key_file, keys_from_config, prepend_new_key
from dagflow.secrets.masker import SecretsMasker
from dagflow.secrets.stored import register_settings_secrets, register_stored_secrets, rotate_secrets
from dagflow.services import events
from dagflow.services.database import ensure_schema


@dataclass(frozen=True)
class KeyRotation:
    """What a fernet key rotation did: values re-encrypted, plain values encrypted, where the keys are."""

    reencrypted: int
    encrypted: int
    key_source: str
    keys: int


def rotate_fernet_key(db: Database, *, generate_key: bool = False) -> KeyRotation:
    """Re-encrypt every stored secret with the newest key; returns what was done."""
    settings = db.settings
    ensure_schema(db)
    path = key_file(settings)
    if generate_key:
        if keys_from_config(settings):
            raise ConfigError(
                "core.fernet_key is set in the configuration: put a new key first in it (comma-separated, "
                "newest first) and run rotate-fernet-key without --generate-key"
            )
        prepend_new_key(path)
    cipher = FernetCipher(settings)
    with db.transaction() as session:
        report = rotate_secrets(session, cipher)
        events.record(session, "rotate_fernet_key", extra={"reencrypted": report.reencrypted})
    source = "core.fernet_key" if keys_from_config(settings) else str(path)
    return KeyRotation(report.reencrypted, report.encrypted, source, len(cipher.secret_keys()))


def output_masker(db: Database) -> SecretsMasker:
    """Every secret the installation knows, to mask what is displayed (rendered fields, XComs, logs)."""
    settings = db.settings
    masker = SecretsMasker(settings.core.sensitive_var_conn_names)
    cipher = FernetCipher(settings)
    register_settings_secrets(masker, settings, cipher)
    ensure_schema(db)
    with db.transaction(readonly=True) as session:
        register_stored_secrets(masker, session, cipher)
    return masker
