"""Internal storage scoped to one DAG run: ``context["storage"]`` in a task.

``put_bytes``/``put_file`` write under the run's folder and return a ``dagflow://`` URI;
``get_bytes``/``open``/``delete`` accept any such URI, so a later task (or a later run,
on any worker that sees the same ``storage.url``) can read it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from dagflow.exceptions import StorageError
from dagflow.storage.backends import StorageBackend, backend_for_url
from dagflow.storage.uri import StorageKey, clean_name, parse_uri

_READ_MODES = frozenset({"rb", "r", "rt"})


class InternalStorage:
    """Files and large values passed between tasks, under ``storage.url``."""

    def __init__(
        self,
        base_url: str,
        *,
        dag_id: str,
        run_id: str,
        backend: StorageBackend | None = None,
    ) -> None:
        self.base_url = base_url
        self.dag_id = dag_id
        self.run_id = run_id
        self._backend = backend or backend_for_url(base_url)

    def __repr__(self) -> str:
        return f"InternalStorage({self.base_url!r}, dag_id={self.dag_id!r}, run_id={self.run_id!r})"

    def key(self, name: str) -> StorageKey:
        """The key of ``name`` in this run's scope."""
        return StorageKey(self.dag_id, self.run_id, clean_name(name))

    def put_bytes(self, name: str, data: bytes) -> str:
        """Store ``data`` as ``name`` in this run; returns its ``dagflow://`` URI."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise StorageError(f"put_bytes needs bytes, got {type(data).__name__}")
        key = self.key(name)
        self._backend.write(key.parts, bytes(data))
        return key.uri

    def put_text(self, name: str, text: str, encoding: str = "utf-8") -> str:
        """Store ``text`` encoded as ``name``; returns its URI."""
        return self.put_bytes(name, text.encode(encoding))

    def put_file(self, path: str | Path, name: str | None = None) -> str:
        """Copy a local file into this run (named after it unless ``name``); returns its URI."""
        source = Path(path)
        key = self.key(name or source.name)
        try:
            self._backend.write_file(key.parts, source)
        except FileNotFoundError as exc:
            raise StorageError(f"cannot read {source}: {exc.strerror}") from exc
        return key.uri

    def get_bytes(self, uri: str) -> bytes:
        """The bytes stored at ``uri`` (any run's)."""
        return self._backend.read(parse_uri(uri).parts)

    def get_text(self, uri: str, encoding: str = "utf-8") -> str:
        """The text stored at ``uri``."""
        return self.get_bytes(uri).decode(encoding)

    def open(self, uri: str, mode: str = "rb") -> IO[Any]:
        """A file object reading ``uri`` (``rb`` or ``r``); write with ``put_*``."""
        if mode not in _READ_MODES:
            raise StorageError(f"storage objects open for reading only, not {mode!r}")
        return self._backend.open(parse_uri(uri).parts, mode)

    def delete(self, uri: str) -> bool:
        """Delete the object at ``uri``; True if it existed."""
        return self._backend.delete(parse_uri(uri).parts)

    def for_run(self, dag_id: str, run_id: str) -> InternalStorage:
        """The same storage, scoped to another run."""
        return InternalStorage(self.base_url, dag_id=dag_id, run_id=run_id, backend=self._backend)
