"""Where stored bytes physically live: the local filesystem, or any fsspec URL.

The local backend writes atomically (a temporary file in the same folder, then
``os.replace``), so a reader never sees half an object. fsspec is imported only when a
non-``file://`` URL is configured, and only if it is installed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import unquote, urlparse

from dagflow.exceptions import StorageError
from dagflow.plugins import STORAGE_GROUP
from dagflow.plugins import load as load_plugin
from dagflow.plugins import names as plugin_names
from dagflow.private_files import make_private_dirs


class StorageBackend(Protocol):
    """Bytes under relative paths (lists of safe segments)."""

    def write(self, parts: list[str], data: bytes) -> None:
        """Store ``data`` atomically at ``parts``."""

    def write_file(self, parts: list[str], source: Path) -> None:
        """Copy the local file ``source`` to ``parts`` atomically, without reading it into memory."""

    def read(self, parts: list[str]) -> bytes:
        """The bytes at ``parts``; ``StorageError`` if missing."""

    def open(self, parts: list[str], mode: str) -> IO[Any]:
        """A file object for reading ``parts``."""

    def delete(self, parts: list[str]) -> bool:
        """Remove ``parts``; True if it existed."""


class LocalBackend:
    """Objects as files under a root folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, parts: list[str]) -> Path:
        path = self.root.joinpath(*parts)
        if self.root.resolve() not in path.resolve().parents:
            raise StorageError(f"storage path escapes the storage root: {'/'.join(parts)}")
        return path

    def write(self, parts: list[str], data: bytes) -> None:
        """Store ``data`` atomically (tmp file + rename)."""
        self._atomic(parts, lambda fh: fh.write(data))

    def write_file(self, parts: list[str], source: Path) -> None:
        """Copy ``source`` in chunks, atomically."""
        with open(source, "rb") as src:
            self._atomic(parts, lambda fh: shutil.copyfileobj(src, fh, 1 << 20))

    def _atomic(self, parts: list[str], fill: Callable[[IO[bytes]], object]) -> None:
        path = self._path(parts)
        make_private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fill(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, parts: list[str]) -> bytes:
        """The bytes of the file at ``parts``."""
        try:
            return self._path(parts).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"no stored object at {'/'.join(parts)}") from exc

    def open(self, parts: list[str], mode: str) -> IO[Any]:
        """The file at ``parts`` opened for reading."""
        try:
            return self._path(parts).open(mode)
        except FileNotFoundError as exc:
            raise StorageError(f"no stored object at {'/'.join(parts)}") from exc

    def delete(self, parts: list[str]) -> bool:
        """Remove the file; True if it existed."""
        path = self._path(parts)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed


class FsspecBackend:
    """Objects under any fsspec URL (``s3://bucket/prefix``, ``gcs://…``, ``memory://…``)."""

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError as exc:
            raise StorageError(f"storage.url {url!r} needs fsspec (pip install fsspec)") from exc
        self.fs, self.root = fsspec.core.url_to_fs(url)

    def _path(self, parts: list[str]) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def write(self, parts: list[str], data: bytes) -> None:
        """Store ``data`` (write to a temporary name, then move)."""
        path = self._path(parts)
        tmp = f"{path}.tmp-{os.getpid()}"
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, path)

    def write_file(self, parts: list[str], source: Path) -> None:
        """Upload ``source`` to a temporary name, then move it into place."""
        path = self._path(parts)
        tmp = f"{path}.tmp-{os.getpid()}"
        self.fs.put_file(str(source), tmp)
        self.fs.mv(tmp, path)

    def read(self, parts: list[str]) -> bytes:
        """The bytes at ``parts``."""
        try:
            return bytes(self.fs.cat_file(self._path(parts)))
        except FileNotFoundError as exc:
            raise StorageError(f"no stored object at {'/'.join(parts)}") from exc

    def open(self, parts: list[str], mode: str) -> IO[Any]:
        """A file object for ``parts``."""
        try:
            return self.fs.open(self._path(parts), mode)  # type: ignore[no-any-return]
        except FileNotFoundError as exc:
            raise StorageError(f"no stored object at {'/'.join(parts)}") from exc

    def delete(self, parts: list[str]) -> bool:
        """Remove the object; True if it existed."""
        path = self._path(parts)
        if not self.fs.exists(path):
            return False
        self.fs.rm_file(path)
        return True


def backend_for_url(url: str) -> StorageBackend:
    """The backend for ``storage.url``: local for ``file://`` or a bare path, an installed
    ``dagflow.storage`` plugin named after the URL's scheme (built with the URL), else fsspec."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = unquote(parsed.path) if parsed.scheme else url
        if parsed.netloc and parsed.scheme:
            path = unquote(parsed.netloc + parsed.path)
        return LocalBackend(Path(path).expanduser())
    if parsed.scheme in plugin_names(STORAGE_GROUP):
        backend: StorageBackend = load_plugin(STORAGE_GROUP, parsed.scheme)(url)
        return backend
    return FsspecBackend(url)
