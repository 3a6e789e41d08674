"""DAG parsing inside the scheduler process (unless ``scheduler.standalone_dag_processor``).

Uses ``dagflow.dag_processing.processor.DagProcessor`` when it exists. Until then, a
small fallback: every ``FINGERPRINT_INTERVAL_S`` it stats the DAG files of the folders,
and when anything changed it runs ``sync_folders`` in a separate (spawned) process, so
the scheduler itself never imports a DAG file and never blocks on a slow one; a parse
running longer than ``scheduler.parsing_timeout`` is killed (and retried later).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Protocol

from dagflow.config import Settings
from dagflow.db import Database

log = logging.getLogger(__name__)

#: How often the fallback looks at the DAG folders for changes.
FINGERPRINT_INTERVAL_S = 1.0


class DagParsing(Protocol):
    """What the scheduler loop needs from a DAG parser: a cheap per-tick call."""

    def scan_if_due(self, now: datetime) -> Any:
        """Parse what changed, if it is time to look."""

    def stop(self) -> None:
        """Stop any parsing process."""


def dag_parsing(settings: Settings, db: Database, folders: Sequence[Path]) -> DagParsing:
    """The DAG processor when available, else the in-scheduler fallback."""
    try:
        from dagflow.dag_processing.processor import DagProcessor  # noqa: PLC0415
    except ImportError:
        return FolderSync(settings, folders)
    return _ProcessorAdapter(DagProcessor(settings, db, folders=list(folders)))


class _ProcessorAdapter:
    """Gives the DAG processor the ``stop()`` the loop calls at shutdown."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def scan_if_due(self, now: datetime) -> Any:
        """Delegate to the processor."""
        return self.processor.scan_if_due(now)

    def stop(self) -> None:
        """Call the processor's own stop/close if it has one."""
        for name in ("stop", "close", "shutdown"):
            method = getattr(self.processor, name, None)
            if callable(method):
                method()
                return


class FolderSync:
    """Fallback parser: ``sync_folders`` in a child process when the folders' files change."""

    def __init__(self, settings: Settings, folders: Sequence[Path]) -> None:
        self.settings = settings
        self.folders = [Path(f) for f in folders]
        self._synced: tuple[Any, ...] | None = None
        self._pending: tuple[Any, ...] | None = None
        self._proc: BaseProcess | None = None
        self._started = 0.0
        self._next_look = 0.0

    def scan_if_due(self, now: datetime) -> bool:
        """Start a sync if files changed; True when a sync finished in this call."""
        finished = self._reap()
        if self._proc is None and time.monotonic() >= self._next_look:
            self._next_look = time.monotonic() + FINGERPRINT_INTERVAL_S
            fingerprint = folder_fingerprint(self.folders)
            if fingerprint != self._synced:
                self._start(fingerprint)
        return finished

    def _start(self, fingerprint: tuple[Any, ...]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._proc = ctx.Process(target=_sync_main, args=(self.settings, self.folders),
                                 name="dagflow-dag-sync", daemon=True)
        self._proc.start()
        self._pending, self._started = fingerprint, time.monotonic()

    def _reap(self) -> bool:
        proc = self._proc
        if proc is None:
            return False
        if proc.is_alive():
            if time.monotonic() - self._started > self.settings.scheduler.parsing_timeout:
                log.error("DAG parsing took longer than %.0fs: killed", self.settings.scheduler.parsing_timeout)
                proc.kill()
                proc.join()
                self._proc = None
            return False
        proc.join()
        if proc.exitcode == 0:
            self._synced = self._pending
        else:
            log.error("DAG parsing process exited with code %s", proc.exitcode)
        self._proc = None
        return proc.exitcode == 0

    def wait(self, timeout: float) -> bool:
        """Block until the running sync (if any) ends; True if one finished."""
        deadline = time.monotonic() + timeout
        while self._proc is not None and time.monotonic() < deadline:
            if self._reap():
                return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        """Kill a running sync."""
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._proc = None


def folder_fingerprint(folders: Sequence[Path]) -> tuple[Any, ...]:
    """(path, mtime, size) of every ``.py`` file under ``folders`` (changes when any file does)."""
    stamps: list[tuple[str, int, int]] = []
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    stamps.append((path, st.st_mtime_ns, st.st_size))
    return tuple(sorted(stamps))


def _sync_main(settings: Settings, folders: list[Path]) -> None:
    """Child process: parse the folders and store the result."""
    from dagflow.dag_processing.sync import sync_folders  # noqa: PLC0415

    db = Database(settings)
    try:
        report = sync_folders(db, folders, paused_at_creation=settings.core.dags_are_paused_at_creation)
        log.info("parsed %d files: %d DAGs, %d changed, %d import errors",
                 report.files, report.dags, report.changed, report.import_errors)
    finally:
        db.dispose()
