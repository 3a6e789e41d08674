"""Which DAG files need parsing: listing, change detection and the re-parse interval.

A file is parsed when it is new, when its content changed since its last parse
(``mtime`` and size are compared first; a differing pair is confirmed by a content
hash, so ``touch`` alone does not re-parse), when one of the files its last parse
imported from the DAG folders changed (a helper module shared by several DAG files;
same test), or when ``reparse_interval`` passed since its last parse (the safety net,
and DAGs that depend on the time, variables or other external state). A file that vanished, or that
the latest listing no longer contains, is "removed". The folders are listed again at
most every ``list_interval``; the clock is always a parameter.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from dagflow.dag_processing.loader import list_dag_files


@dataclass(frozen=True)
class FileStamp:
    """What a file looked like: modification time, size and content digest."""

    mtime_ns: int
    size: int
    digest: str


@dataclass(frozen=True)
class Changes:
    """Files to parse now (with their stamp taken before parsing) and files gone."""

    to_parse: dict[str, FileStamp]
    removed: list[str]

    def __bool__(self) -> bool:
        return bool(self.to_parse or self.removed)


@dataclass
class _Parsed:
    stamp: FileStamp
    at: datetime
    imports: dict[str, FileStamp] = field(default_factory=dict)


class FileTracker:
    """The listed DAG files and the stamp of each one's last parse."""

    def __init__(
        self, folders: Iterable[Path], *, list_interval: float, reparse_interval: float, ignore_syntax: str = "glob"
    ) -> None:
        """Track the DAG files under ``folders`` (``ignore_syntax``: ``core.dag_ignore_file_syntax``)."""
        self.folders = [Path(f) for f in folders]
        self.ignore_syntax = ignore_syntax
        self.list_interval = timedelta(seconds=list_interval)
        self.reparse_interval = timedelta(seconds=reparse_interval)
        self.listed: list[str] = []
        self.listed_at: datetime | None = None
        self._parsed: dict[str, _Parsed] = {}

    def relist_if_due(self, now: datetime, *, force: bool = False) -> bool:
        """List the folders again if forced, never listed, or ``list_interval`` passed."""
        if not force and self.listed_at is not None and now - self.listed_at < self.list_interval:
            return False
        self.listed = [str(p) for p in list_dag_files(self.folders, ignore_syntax=self.ignore_syntax)]
        self.listed_at = now
        return True

    def changes(self, now: datetime) -> Changes:
        """Files that need parsing and files that are gone, as of ``now``."""
        to_parse: dict[str, FileStamp] = {}
        listed = set(self.listed)
        removed = [path for path in self._parsed if path not in listed]
        seen: dict[str, FileStamp | None] = {}  # imported files checked in this pass
        for path in self.listed:
            stamp = self._changed_stamp(path, now, seen)
            if stamp is _GONE:
                removed.append(path)
            elif stamp is not None:
                to_parse[path] = stamp
        return Changes(to_parse, sorted(set(removed)))

    def record(self, path: str, stamp: FileStamp, now: datetime, imports: dict[str, FileStamp] | None = None) -> None:
        """Remember that ``path`` was parsed as it was at ``stamp``, importing ``imports``."""
        self._parsed[path] = _Parsed(stamp, now, dict(imports or {}))

    def forget(self, path: str) -> None:
        """Drop a removed file (a file that comes back is parsed as new)."""
        self._parsed.pop(path, None)

    def known(self, path: str) -> bool:
        """True when ``path`` was parsed before and not forgotten."""
        return path in self._parsed

    def _changed_stamp(self, path: str, now: datetime, seen: dict[str, FileStamp | None]) -> FileStamp | None:
        """A fresh stamp if ``path`` must be parsed, None if not, ``_GONE`` if it vanished."""
        try:
            stat = os.stat(path)
        except OSError:
            return _GONE if path in self._parsed else None
        parsed = self._parsed.get(path)
        due = parsed is None or now - parsed.at >= self.reparse_interval
        if (
            parsed is not None
            and not due
            and (stat.st_mtime_ns, stat.st_size) == (parsed.stamp.mtime_ns, parsed.stamp.size)
        ):
            return _stamp(path, stat) if self._imports_changed(parsed, seen) else None
        stamp = _stamp(path, stat)
        if stamp is None:
            return _GONE if parsed is not None else None
        if parsed is not None and not due and stamp.digest == parsed.stamp.digest:
            parsed.stamp = stamp  # touched, not changed: remember the new mtime, skip parsing
            return stamp if self._imports_changed(parsed, seen) else None
        return stamp

    @staticmethod
    def _imports_changed(parsed: _Parsed, seen: dict[str, FileStamp | None]) -> bool:
        """True when a file the last parse imported changed or vanished (touched alone is not)."""
        for path, old in parsed.imports.items():
            if path not in seen:
                seen[path] = _current(path, old)
            current = seen[path]
            if current is None or current.digest != old.digest:
                return True
            parsed.imports[path] = current
        return False


def _stamp(path: str, stat: os.stat_result) -> FileStamp | None:
    try:
        with open(path, "rb") as handle:
            digest = hashlib.blake2b(handle.read(), digest_size=16).hexdigest()
    except OSError:
        return None
    return FileStamp(stat.st_mtime_ns, stat.st_size, digest)


def _current(path: str, old: FileStamp) -> FileStamp | None:
    """``old`` if ``path`` looks the same (mtime, size), else its fresh stamp; None when gone."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if (stat.st_mtime_ns, stat.st_size) == (old.mtime_ns, old.size):
        return old
    return _stamp(path, stat)


_GONE = FileStamp(-1, -1, "")
