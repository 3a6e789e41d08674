"""Notice new, changed and removed DAG files at once: a filesystem watch on the DAG folders.

``FolderWatcher.start()`` runs ``watchfiles`` (inotify on Linux, FSEvents on macOS, …) in
a daemon thread; any change to a ``.py`` file, or to a folder, under the watched folders
sets a flag that ``take_changed()`` reads and clears. The DAG processor checks it at
each pass (every second) and lists the folders again when it is set, so a new file is
parsed within about two seconds instead of waiting for ``scheduler.dag_dir_list_interval``.

When ``watchfiles`` cannot be imported, or its watch fails (no inotify watches left, a
file system without events), the watcher falls back to polling: each ``take_changed()``
compares the modification time of every folder under the DAG folders with the previous
call (adding, removing or renaming a file changes its folder's mtime), one ``stat`` per
folder.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from dagflow.dag_processing.ignore import IGNORE_FILES

log = logging.getLogger(__name__)

#: Milliseconds ``watchfiles`` groups events over before reporting them (an editor's save is several).
DEBOUNCE_MS = 200


class FolderWatcher:
    """A changed-flag for the DAG folders, set by filesystem events (or by polling folder mtimes)."""

    def __init__(self, folders: Iterable[Path], *, use_events: bool = True) -> None:
        """Watch ``folders`` (missing ones are ignored); ``use_events=False`` polls from the start."""
        self.folders = [Path(f) for f in folders]
        self.use_events = use_events
        self.mode = "off"
        self._changed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._snapshot: dict[str, int] | None = None

    def start(self) -> None:
        """Begin watching (events in a daemon thread, else polling)."""
        existing = [str(f) for f in self.folders if f.exists()]
        self._snapshot = _folder_mtimes(self.folders)
        if self.use_events and existing:
            try:
                import watchfiles  # noqa: F401 - only to know it is there
            except ImportError:
                log.info("watchfiles is not installed: polling the DAG folders")
            else:
                self.mode = "events"
                self._thread = threading.Thread(
                    target=self._watch, args=(existing,), name="dagflow-dag-folder-watch", daemon=True
                )
                self._thread.start()
                return
        self.mode = "poll"

    def take_changed(self) -> bool:
        """True (once) if something changed under the folders since the last call."""
        if self.mode == "poll":
            current = _folder_mtimes(self.folders)
            changed = current != self._snapshot
            self._snapshot = current
            return changed
        if self._changed.is_set():
            self._changed.clear()
            return True
        return False

    def stop(self) -> None:
        """Stop the watch thread (returns within a fraction of a second)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.mode = "off"

    def _watch(self, paths: list[str]) -> None:
        from watchfiles import watch

        try:
            for changes in watch(
                *paths,
                watch_filter=_relevant,
                debounce=DEBOUNCE_MS,
                step=50,
                stop_event=self._stop,
                rust_timeout=1000,
                raise_interrupt=False,
            ):
                if changes:
                    self._changed.set()
        except Exception as exc:  # noqa: BLE001 - any failure of the watch: poll instead, never die
            if not self._stop.is_set():
                log.warning("watching the DAG folders failed (%s): polling them instead", exc)
                self._snapshot = _folder_mtimes(self.folders)
                self.mode = "poll"
                self._changed.set()  # list once now: events may have been lost


def _relevant(change: Any, path: str) -> bool:
    """A Python file, an ignore file or a folder (not a cache, an editor's swap file or another hidden entry)."""
    name = os.path.basename(path)
    if name in IGNORE_FILES:
        return True
    if name.startswith(".") or name == "__pycache__" or "__pycache__" in path:
        return False
    return name.endswith(".py") or "." not in name


def _folder_mtimes(folders: Iterable[Path]) -> dict[str, int]:
    """``{folder: mtime_ns}`` for each DAG folder and every folder below it (hidden ones skipped)."""
    found: dict[str, int] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for root, dirs, _ in os.walk(folder, followlinks=True):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
            try:
                found[root] = os.stat(root).st_mtime_ns
            except OSError:
                continue
    return found
