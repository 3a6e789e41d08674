"""The deployment's secret key: signs broker messages, log requests and (later) web sessions.

``webserver.secret_key`` when it is set (every host of a Celery deployment must set the
same value). Otherwise the key of this ``$DAGFLOW_HOME``: ``$DAGFLOW_HOME/secret_key``,
generated on first use with mode 0600, which is enough when every dagflow process shares
one home (the embedded default, ``standalone``). Read at an entry point and passed down,
never at import time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dagflow.exceptions import ConfigError
from dagflow.private_files import publish_private_file

if TYPE_CHECKING:
    from dagflow.config import Settings

SECRET_KEY_FILE = "secret_key"
#: Keys a person may have copied from an example: refused, as an empty key is.
KNOWN_DEFAULTS = frozenset({"change-me", "change-me-to-a-long-random-string", "secret", "temporary_key"})
#: Shortest secret key accepted from the configuration.
MIN_KEY_LENGTH = 16


def secret_key(settings: Settings) -> str:
    """The secret key: the configured one, else this home's key file (created if missing)."""
    configured = settings.webserver.secret_key
    if configured:
        if configured in KNOWN_DEFAULTS or len(configured) < MIN_KEY_LENGTH:
            raise ConfigError(
                "webserver.secret_key is a placeholder or shorter than "
                f"{MIN_KEY_LENGTH} characters: set a long random value (or unset it to use a generated key)"
            )
        return configured
    return read_or_create_key(settings.home / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(32))


def read_or_create_key(path: Path, generate: Callable[[], str]) -> str:
    """The first line of ``path``; if there is no such file, a new key written there (0600, atomically)."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    publish_private_file(path, generate() + "\n")  # of two processes starting at once, one key wins
    return _read_key(path)


def _read_key(path: Path) -> str:
    text = path.read_text()
    key = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not key:
        raise ConfigError(f"{path} is empty: delete it to have a new key generated")
    return key
