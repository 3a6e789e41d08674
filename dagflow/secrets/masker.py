"""The secrets masker: known secret values, replaced by ``***`` wherever text is shown.

As Airflow's ``secrets_masker``: a value is registered with ``add(value, name)``; a
value registered under a name is kept only if the name looks sensitive (it contains
``password``, ``secret``, ``token``, ``api_key``, ... or a name in
``core.sensitive_var_conn_names``); values shorter than ``MIN_LENGTH`` are never masked
(masking ``"a"`` would garble every line). ``mask(text)`` replaces every known value
(and its URL-quoted form) in text; ``redact(obj, name)`` does the same through dicts and
lists and hides every value stored under a sensitive key whether known or not.

Pure: no I/O, no configuration read here (pass the extra names in).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from dagflow.fork_gate import FORK_GATE

MASK = "***"
#: Airflow's ``DEFAULT_SENSITIVE_FIELDS``.
SENSITIVE_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "secret",
        "token",
        "keyfile_dict",
        "service_account",
    }
)
#: Shorter values are not masked (as Airflow's ``min_length_masked_secret``).
MIN_LENGTH = 5


def sensitive_names(extra: str | Iterable[str] = "") -> frozenset[str]:
    """The built-in sensitive names plus ``extra`` (a comma-separated string or names)."""
    names = extra.split(",") if isinstance(extra, str) else list(extra)
    return SENSITIVE_NAMES | {name.strip().lower() for name in names if name.strip()}


class SecretsMasker:
    """A set of secret values and the one regular expression that finds them in text."""

    def __init__(self, extra_sensitive_names: str | Iterable[str] = "") -> None:
        self.names = sensitive_names(extra_sensitive_names)
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._values)

    def should_hide_value_for_key(self, name: object) -> bool:
        """True if a value stored under ``name`` is a secret (Airflow's name for this test)."""
        if not isinstance(name, str):
            return False
        lowered = name.strip().lower()
        return any(sensitive in lowered for sensitive in self.names)

    def add(self, value: Any, name: str | None = None) -> None:
        """Register ``value`` (a string, a number, or the leaves of a dict/list).

        With ``name``: only if the name looks sensitive; inside a dict, each key is the
        name of its value, and everything below a sensitive key is registered.
        """
        found: set[str] = set()
        self._collect(value, name, found)
        fresh = {text for text in found if text not in self._values}
        if not fresh:
            return
        with FORK_GATE.section(), self._lock:  # a task process forked meanwhile may use this masker
            self._values |= fresh
            variants = {variant for text in self._values for variant in _variants(text)}
            ordered = sorted(variants, key=len, reverse=True)  # the longest match wins
            self._pattern = re.compile("|".join(re.escape(text) for text in ordered))

    def known_values(self) -> list[str]:
        """Every registered value (to hand the set to another process)."""
        return sorted(self._values)

    def merge(self, other: SecretsMasker) -> None:
        """Register every value ``other`` knows."""
        self.add(sorted(other._values))

    def _collect(self, value: Any, name: str | None, found: set[str]) -> None:
        if isinstance(value, Mapping):
            hide_all = name is not None and self.should_hide_value_for_key(name)
            for key, item in value.items():
                self._collect(item, None if hide_all else str(key), found)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                self._collect(item, name, found)
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            if name is not None and not self.should_hide_value_for_key(name):
                return
            text = str(value)
            for line in {text, *text.splitlines()}:  # a multi-line secret is masked line by line too
                if len(line.strip()) >= MIN_LENGTH:
                    found.add(line)

    def mask(self, text: str) -> str:
        """``text`` with every known secret replaced by ``***``."""
        pattern = self._pattern
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)

    def redact(self, value: Any, name: str | None = None) -> Any:
        """A copy of ``value`` (dicts, lists, strings) with secrets and sensitive keys' values masked."""
        if name is not None and self.should_hide_value_for_key(name):
            return _hide_all(value)
        if isinstance(value, Mapping):
            return {key: self.redact(item, str(key)) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact(item) for item in value)
        if isinstance(value, str):
            return self.mask(value)
        return value


def _hide_all(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _hide_all(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_hide_all(item) for item in value)
    return value if value is None or isinstance(value, bool) else MASK


def _variants(text: str) -> set[str]:
    """The value and the forms it takes in a URI (percent-encoded, in a path or a query)."""
    return {text, quote(text, safe=""), quote(text), quote_plus(text)} - {""}
