"""Fernet keys: the key file, core.fernet_key, MultiFernet rotation and one-line errors."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from dagflow.config import Settings
from dagflow.exceptions import FernetKeyError
from dagflow.secrets.fernet import FernetCipher, create_key_file, key_file, prepend_new_key, read_key_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_file_is_created_private_on_first_encrypt(settings: Settings) -> None:
    path = key_file(settings)
    old_umask = os.umask(0)
    try:
        cipher = FernetCipher(settings)
        assert not path.exists()
        token = cipher.encrypt("s3cret-value")
    finally:
        os.umask(old_umask)
    assert _mode(path) == 0o600 and len(read_key_file(path)) == 1
    assert token != "s3cret-value" and FernetCipher(settings).decrypt(token, what="x") == "s3cret-value"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".fernet")] == []


def test_create_key_file_never_replaces_an_existing_key(settings: Settings) -> None:
    path = key_file(settings)
    assert create_key_file(path) is True
    first = path.read_text()
    assert create_key_file(path) is False and path.read_text() == first


def test_decrypting_without_any_key_is_one_clear_error(settings: Settings) -> None:
    with pytest.raises(FernetKeyError, match=r"cannot decrypt connection 'pg': no fernet key .*fernet\.key"):
        FernetCipher(settings).decrypt("gAAAAA", what="connection 'pg'")
    assert not key_file(settings).exists()  # reading never creates a key


def test_a_wrong_key_is_one_clear_error(settings: Settings) -> None:
    token = FernetCipher(settings).encrypt("value-1")
    other = settings.replace(core={"fernet_key": Fernet.generate_key().decode()})
    with pytest.raises(FernetKeyError) as caught:
        FernetCipher(other).decrypt(token, what="connection 'pg'")
    assert str(caught.value) == "cannot decrypt connection 'pg': the fernet key does not match"


def test_core_fernet_key_wins_and_older_keys_still_decrypt(settings: Settings) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = FernetCipher(settings.replace(core={"fernet_key": old})).encrypt("rotating")
    both = FernetCipher(settings.replace(core={"fernet_key": f"{new}, {old}"}))
    assert both.decrypt(token, what="x") == "rotating"
    rotated = both.rotate(token, what="x")
    assert FernetCipher(settings.replace(core={"fernet_key": new})).decrypt(rotated, what="x") == "rotating"
    assert not key_file(settings).exists()


def test_a_malformed_key_is_one_clear_error(settings: Settings) -> None:
    with pytest.raises(FernetKeyError, match=r"^core\.fernet_key: key 1 is not a valid Fernet key"):
        FernetCipher(settings.replace(core={"fernet_key": "not-a-key"})).encrypt("x")


def test_prepend_new_key_keeps_the_old_ones_after_it(settings: Settings) -> None:
    path = key_file(settings)
    create_key_file(path)
    old = read_key_file(path)
    new = prepend_new_key(path)
    assert read_key_file(path) == [new, *old] and _mode(path) == 0o600
