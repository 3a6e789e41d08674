"""Encrypted text columns: how ``connection.password``/``extra`` and ``variable.val`` are sealed.

A column holds either plain text (its ``is_*encrypted`` flag false: rows written before
encryption existed, still readable) or a fernet token (flag true). The models never
load keys themselves: callers pass a ``Cipher`` (``dagflow.secrets.fernet.FernetCipher``).
"""

from __future__ import annotations

from typing import Protocol


class Cipher(Protocol):
    """What the models need of the fernet keys."""

    def encrypt(self, text: str) -> str:
        """``text`` encrypted."""

    def decrypt(self, token: str, *, what: str) -> str:
        """The text of ``token``; raises ``FernetKeyError`` naming ``what`` if no key fits."""


def seal(text: str | None, cipher: Cipher | None) -> tuple[str | None, bool]:
    """``(stored value, is_encrypted)`` for ``text``: encrypted when a cipher is given."""
    if text is None:
        return None, False
    if cipher is None:
        return text, False
    return cipher.encrypt(text), True


def unseal(stored: str | None, encrypted: bool, cipher: Cipher | None, *, what: str) -> str | None:
    """The plain text of a stored value (decrypted if its flag says so)."""
    if stored is None or not encrypted:
        return stored
    if cipher is None:
        raise ValueError(f"{what} is encrypted: a cipher is needed to read it")
    return cipher.decrypt(stored, what=what)
