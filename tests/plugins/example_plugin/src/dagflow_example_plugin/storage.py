"""A storage backend plugin for ``storage.url = "exampledir:///some/folder"``: files under the
folder, each object stored with a ``.obj`` suffix (so a test can tell this backend wrote it)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from dagflow.storage.backends import LocalBackend


class ExampleDirBackend(LocalBackend):
    """``LocalBackend`` under the URL's path, with ``.obj`` file names."""

    def __init__(self, url: str) -> None:
        super().__init__(Path(unquote(urlparse(url).path)))

    def _path(self, parts: list[str]) -> Path:
        return super()._path([*parts[:-1], parts[-1] + ".obj"])
