"""``conf`` in templates and task contexts: the settings, read-only, without their secrets.

Airflow hides ``sensitive_config_values`` (the web server's secret key, the fernet key,
the database and broker URLs, ...) wherever configuration is shown; dagflow does the
same for the ``conf`` a task sees. Those keys read ``***``; any other value that is a
URL with a password reads with the password as ``***``. Everything else is the value.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from dagflow.secrets.masker import MASK

if TYPE_CHECKING:
    from dagflow.config import Settings

#: (section, key) of settings that are secrets as a whole.
SENSITIVE_SETTINGS = frozenset(
    {
        ("webserver", "secret_key"),
        ("core", "fernet_key"),
        ("database", "sql_alchemy_conn"),
        ("celery", "broker_url"),
    }
)


def public_value(section: str, key: str, value: Any) -> Any:
    """``value`` as ``conf`` shows it: ``***`` for secret settings, URL passwords hidden."""
    if (section, key) in SENSITIVE_SETTINGS:
        return MASK
    if isinstance(value, str):
        return hide_url_password(value)
    return value


def hide_url_password(text: str) -> str:
    """``scheme://user:***@host/...`` for a URL with a password; anything else unchanged."""
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    user, _, _ = parts.netloc.rpartition("@")[0].partition(":")
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


class SectionView:
    """One section of ``conf`` (``conf.core``, ``conf.webserver``, ...), read-only."""

    __slots__ = ("_name", "_section")

    def __init__(self, name: str, section: Any) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_section", section)

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_") or key not in {f.name for f in dataclasses.fields(self._section)}:
            raise AttributeError(f"conf.{self._name} has no key {key!r}")
        return public_value(self._name, key, getattr(self._section, key))

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("conf is read-only")

    def as_dict(self) -> dict[str, Any]:
        """The section's keys and their public values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self._section)}

    def __repr__(self) -> str:
        return f"<conf.{self._name} {self.as_dict()!r}>"


class SettingsView:
    """``conf``: ``conf.core.dags_folder``, ``conf.get("core", "dags_folder")``; secrets read ``***``."""

    __slots__ = ("_settings",)

    def __init__(self, settings: Settings) -> None:
        object.__setattr__(self, "_settings", settings)

    @property
    def home(self) -> Path:
        """``$DAGFLOW_HOME``."""
        return Path(self._settings.home)

    def __getattr__(self, name: str) -> SectionView:
        section = getattr(self._settings, name, None) if not name.startswith("_") else None
        if section is None or not dataclasses.is_dataclass(section):
            raise AttributeError(f"conf has no section {name!r}")
        return SectionView(name, section)

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("conf is read-only")

    def get(self, section: str, key: str, fallback: Any = None) -> Any:
        """One value, as Airflow's ``conf.get(section, key)``; ``fallback`` when there is no such key."""
        try:
            return getattr(getattr(self, section), key)
        except AttributeError:
            return fallback

    def __repr__(self) -> str:
        return f"<conf home={str(self.home)!r}>"
