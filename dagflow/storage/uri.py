"""``dagflow://<dag_id>/<run_id>/<name>`` URIs: build, parse and sanitise them.

A name may contain ``/`` to make folders, but no segment may be empty, ``.`` or ``..``,
so a URI can never point outside its run's folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from dagflow.exceptions import StorageError

SCHEME = "dagflow://"
_FORBIDDEN = ("\x00", "\\")


@dataclass(frozen=True)
class StorageKey:
    """Where one stored object lives: its run scope and its name inside the run."""

    dag_id: str
    run_id: str
    name: str

    @property
    def uri(self) -> str:
        """The ``dagflow://`` URI of this object."""
        return f"{SCHEME}{_quote(self.dag_id)}/{_quote(self.run_id)}/{self.name}"

    @property
    def parts(self) -> list[str]:
        """Path segments relative to the storage root (each safe for a filesystem)."""
        return [_quote(self.dag_id), _quote(self.run_id), *self.name.split("/")]


def _quote(segment: str) -> str:
    if not segment:
        raise StorageError("empty dag_id or run_id in a storage key")
    quoted = quote(segment, safe="-_.+:=@,")
    return quoted.replace(".", "%2E") if quoted in (".", "..") else quoted


def clean_name(name: str) -> str:
    """``name`` if it is a safe relative object name, else ``StorageError``."""
    if not name or any(ch in name for ch in _FORBIDDEN) or name.startswith("/"):
        raise StorageError(f"invalid storage object name {name!r}")
    segments = name.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise StorageError(f"invalid storage object name {name!r} (no '', '.' or '..' parts)")
    return name


def parse_uri(uri: str) -> StorageKey:
    """The key of a ``dagflow://dag/run/name`` URI; ``StorageError`` if it is not one."""
    if not isinstance(uri, str) or not uri.startswith(SCHEME):
        raise StorageError(f"not a dagflow storage URI: {uri!r}")
    pieces = uri[len(SCHEME) :].split("/", 2)
    if len(pieces) != 3:
        raise StorageError(f"storage URI needs dagflow://<dag_id>/<run_id>/<name>: {uri!r}")
    dag_id, run_id, name = pieces
    return StorageKey(unquote(dag_id), unquote(run_id), clean_name(name))


def is_storage_uri(value: object) -> bool:
    """True if ``value`` is a string that looks like a ``dagflow://`` URI."""
    return isinstance(value, str) and value.startswith(SCHEME)
