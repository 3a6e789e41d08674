"""The fernet keys that encrypt secrets at rest, and the cipher built from them.

Keys come from ``core.fernet_key`` (comma-separated, newest first, as Airflow's), or,
when that is empty, from ``$DAGFLOW_HOME/fernet.key`` (one key per line, newest first),
which is created with one fresh key the first time a secret is written. Encryption uses
the first key; decryption tries every key (``MultiFernet``), so a new key can be put
first and the old ones dropped after ``dagflow rotate-fernet-key``.

Nothing here runs at import: a ``FernetCipher`` reads the keys on its first use, and
``cryptography`` is imported only then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagflow.exceptions import FernetKeyError
from dagflow.private_files import publish_private_file, write_private_text

if TYPE_CHECKING:
    from dagflow.config import Settings

KEY_FILE_NAME = "fernet.key"


def key_file(settings: Settings) -> Path:
    """Where the keys live when ``core.fernet_key`` is empty."""
    return settings.home / KEY_FILE_NAME


def generate_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def keys_from_config(settings: Settings) -> list[str]:
    """The keys set in ``core.fernet_key`` (newest first); empty when it is not set."""
    return [key.strip() for key in settings.core.fernet_key.split(",") if key.strip()]


def read_key_file(path: Path) -> list[str]:
    """The keys in a key file (newest first; blank lines and ``#`` comments skipped); [] if missing."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def create_key_file(path: Path) -> bool:
    """Create ``path`` (mode 0600) holding one fresh key, unless it exists; True if created."""
    return publish_private_file(path, generate_key() + "\n")


def prepend_new_key(path: Path) -> str:
    """Put a fresh key first in the key file (created if missing); returns the new key."""
    key = generate_key()
    write_private_text(path, "\n".join([key, *read_key_file(path)]) + "\n")
    return key


class FernetCipher:
    """Encrypts with the newest key and decrypts with any (Airflow's ``MultiFernet`` semantics)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._fernet: Any = None

    def encrypt(self, text: str) -> str:
        """``text`` encrypted with the first key (the key file is created if there is none)."""
        return str(self._load(create=True).encrypt(text.encode()).decode())

    def decrypt(self, token: str, *, what: str) -> str:
        """The text of ``token``; ``FernetKeyError`` naming ``what`` if no key decrypts it."""
        from cryptography.fernet import InvalidToken

        fernet = self._load(create=False, what=what)
        try:
            return str(fernet.decrypt(token.encode()).decode())
        except (InvalidToken, ValueError, TypeError):
            raise FernetKeyError(f"cannot decrypt {what}: the fernet key does not match") from None

    def rotate(self, token: str, *, what: str) -> str:
        """``token`` re-encrypted with the first key (it may have been encrypted with any key)."""
        from cryptography.fernet import InvalidToken

        fernet = self._load(create=False, what=what)
        try:
            return str(fernet.rotate(token.encode()).decode())
        except (InvalidToken, ValueError, TypeError):
            raise FernetKeyError(f"cannot decrypt {what}: the fernet key does not match") from None

    def secret_keys(self) -> list[str]:
        """The keys themselves (configured or in the key file), to mask them if printed."""
        return keys_from_config(self._settings) or read_key_file(key_file(self._settings))

    def _load(self, *, create: bool, what: str = "") -> Any:
        if self._fernet is not None:
            return self._fernet
        settings = self._settings
        keys, source = keys_from_config(settings), "core.fernet_key"
        if not keys:
            path = key_file(settings)
            if create:
                create_key_file(path)
            keys, source = read_key_file(path), str(path)
            if not keys:
                raise FernetKeyError(
                    f"cannot decrypt {what}: no fernet key (core.fernet_key is empty and {path} does not exist)"
                )
        self._fernet = _multi_fernet(keys, source)
        return self._fernet


def _multi_fernet(keys: list[str], source: str) -> Any:
    from cryptography.fernet import Fernet, MultiFernet

    fernets = []
    for number, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise FernetKeyError(
                f"{source}: key {number} is not a valid Fernet key (32 url-safe base64-encoded bytes; "
                "make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
    return MultiFernet(fernets)
