"""The DAG processor: keep the DB's serialized DAGs and import errors in step with the files.

Each pass lists the DAG folders (on start, at once when the folder watch saw a change,
else at most every ``scheduler.dag_dir_list_interval``), picks the files that are new, changed (mtime and
size, confirmed by a content hash), that imported a helper file under the DAG folders
which changed since, or that were not parsed for ``min_file_process_interval``,
parses them in the parse pool (``ParsePool``: ``parsing_processes`` processes, each
parsing up to ``parsing_files_per_process`` files, a file killed at ``parsing_timeout``
and capped in memory) and writes the outcome in one transaction. Unchanged DAGs write nothing; a broken file keeps its DAGs' last good
version and shows the error; a vanished file deactivates its DAGs.

Standalone (``dagflow dag-processor``)::

    processor = DagProcessor(settings, db, folders=dag_folders(settings))
    processor.run(stop_event, num_runs=None, on_report=print_line)

Inside the scheduler (non-blocking, one call per tick; parsing runs in the background
in the parse server's processes, never in the scheduler's process)::

    processor = DagProcessor(settings, db, folders=dag_folders(settings))
    ...
    report = processor.scan_if_due(now)   # returns in milliseconds; a ScanReport when a
                                          # pass finished and was written, else None
    ...
    processor.close(now)                  # at shutdown: stops the parse server

``scan_if_due`` checks the files at most every ``check_interval`` seconds (1 s), starts a
batch when something changed, collects finished results on later calls, and writes
them once the batch is complete. It also registers and heartbeats the processor's
``job`` row (``job_type="dag_processor"``, see ``job.processor_alive``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import OperationalError

from dagflow.config import Settings
from dagflow.dag_processing.apply import ApplyCounts, apply_results, prune_unlisted, remove_files
from dagflow.dag_processing.file_stamps import forget_files, import_stamps, load_stamps, record_parsed
from dagflow.dag_processing.file_tracker import FileStamp, FileTracker
from dagflow.dag_processing.folder_watch import FolderWatcher
from dagflow.dag_processing.job import end_job, heartbeat, register_job
from dagflow.dag_processing.pool import ParsePool, ParseResult
from dagflow.db import Database
from dagflow.exceptions import DatabaseError
from dagflow.models.base import utcnow

log = logging.getLogger(__name__)

#: Address space a parsing process may add to what it starts with (MB), unless
#: ``scheduler.parsing_memory_limit_mb`` exists in the settings.
DEFAULT_MEMORY_LIMIT_MB = 400
#: How often ``scan_if_due`` and ``run`` look at the files for changes (seconds).
CHECK_INTERVAL_S = 1.0
#: A scheduler tick keeps taking parse results while the next one follows within this gap (seconds)...
COLLECT_GAP_S = 0.005
#: ...for at most this long (seconds), so a tick is never held for long by parsing.
COLLECT_BUDGET_S = 0.25
#: ``changed_only``: time alone never makes a file due (ten years).
CHANGED_ONLY_REPARSE_S = 10 * 365 * 86400.0


@dataclass(frozen=True)
class ScanReport:
    """What one pass found and wrote."""

    files: int
    parsed: int
    dags: int
    changed: int
    import_errors: int
    deactivated: int
    duration_s: float

    @property
    def changed_anything(self) -> bool:
        """True when the pass wrote DAGs, import errors or deactivations."""
        return bool(self.changed or self.import_errors or self.deactivated)

    def summary(self) -> str:
        """One line for a log or a terminal."""
        return (
            f"parsed {self.parsed} of {self.files} file(s) in {self.duration_s:.3f}s: "
            f"{self.dags} DAG(s), {self.changed} changed, {self.import_errors} import error(s), "
            f"{self.deactivated} deactivated"
        )


@dataclass
class _Batch:
    stamps: dict[str, FileStamp]
    removed: list[str]
    relisted: bool
    started: float = field(default_factory=time.monotonic)
    results: list[ParseResult] = field(default_factory=list)


class DagProcessor:
    """Parses changed DAG files in subprocesses and stores the result; see the module doc."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        folders: Iterable[Path] | None = None,
        check_interval: float = CHECK_INTERVAL_S,
        changed_only: bool = False,
        resume: bool = False,
    ) -> None:
        """Watch ``folders`` (default: ``core.dags_folder``); nothing starts until the first pass.

        ``resume``: start from the stamps the DB recorded (``dag_file``), so a file parsed by
        any process less than ``min_file_process_interval`` ago is parsed only if it (or a
        helper it imported) changed since (``dagflow dag-processor`` without ``--force``).
        ``changed_only``: resume, and never parse again because time passed (the CLI's own pass).
        """
        cfg = settings.scheduler
        self.settings = settings
        self.db = db
        self.folders = [Path(f) for f in (folders if folders is not None else [settings.core.dags_folder])]
        self.check_interval = timedelta(seconds=check_interval)
        reparse = CHANGED_ONLY_REPARSE_S if changed_only else cfg.min_file_process_interval
        self.tracker = FileTracker(
            self.folders,
            list_interval=cfg.dag_dir_list_interval,
            reparse_interval=reparse,
            ignore_syntax=settings.core.dag_ignore_file_syntax,
        )
        self.changed_only = changed_only
        self.resume = resume or changed_only
        watch = cfg.watch_dag_folders and not changed_only
        self.watcher: FolderWatcher | None = FolderWatcher(self.folders) if watch else None
        memory = int(getattr(cfg, "parsing_memory_limit_mb", DEFAULT_MEMORY_LIMIT_MB))
        self.pool = ParsePool(
            processes=cfg.parsing_processes,
            timeout=cfg.parsing_timeout,
            memory_limit_mb=memory,
            default_timezone=settings.core.default_timezone,
            default_task_retries=settings.core.default_task_retries,
            files_per_process=cfg.parsing_files_per_process,
            roots=[str(folder.resolve()) for folder in self.folders],
        )
        self.job_id: int | None = None
        self._batch: _Batch | None = None
        self._next_check: datetime | None = None
        self._last_heartbeat: datetime | None = None

    def prestart(self, now: datetime) -> None:
        """Register, list the folders and hand the first batch to the parse server now.

        The parse server imports dagflow and parses while the caller goes on starting up
        (a scheduler: its executor); the first ``scan_if_due`` collects the results.
        """
        self.start(now)
        if self._batch is None:
            self._next_check = now + self.check_interval
            self._batch = self._begin_batch(now)

    def start(self, now: datetime) -> None:
        """Register the ``job`` row (once)."""
        if self.job_id is None:
            if self.watcher is not None and self.watcher.mode == "off":
                self.watcher.start()
            with self.db.transaction() as session:
                self.job_id = register_job(session, now=now)
                if self.resume:
                    for path, (stamp, parsed_at, imports) in load_stamps(session).items():
                        self.tracker.record(path, stamp, parsed_at, imports)
            self._last_heartbeat = now

    def scan(self, now: datetime, *, stop_event: threading.Event | None = None) -> ScanReport:
        """One full pass: check, parse what is due, wait for it, write it (blocking)."""
        self.start(now)
        if self._batch is None:
            self._batch = self._begin_batch(now)
        if self._batch is None:
            self._heartbeat_if_due(now)
            return ScanReport(len(self.tracker.listed), 0, 0, 0, 0, 0, 0.0)
        while self.pool.pending:
            if stop_event is not None and stop_event.is_set():
                return self._abandon_batch()
            self._batch.results += self.pool.poll(0.1)
        return self._finish_batch(now)

    def scan_if_due(self, now: datetime) -> ScanReport | None:
        """Non-blocking step for a scheduler tick: a report when a pass was written, else None."""
        self.start(now)
        if self._batch is None and (self._next_check is None or now >= self._next_check):
            self._next_check = now + self.check_interval
            self._batch = self._begin_batch(now)
        if self._batch is not None:
            self._batch.results += self._collect()
            if not self.pool.pending:
                return self._finish_batch(now)
        self._heartbeat_if_due(now)
        return None

    def _collect(self) -> list[ParseResult]:
        """The results that have arrived, and those that keep arriving right behind them.

        The parse server blocks while the pipe to this process is full (a DAG's document
        is a few KB), so taking only what is there once per scheduler tick let 200 new
        files trickle in over ~9 ticks; taking what follows within ``COLLECT_GAP_S`` of the
        last one, for at most ``COLLECT_BUDGET_S``, drains a finished batch at once without
        holding a tick while files are still being parsed.
        """
        results: list[ParseResult] = []
        deadline = time.monotonic() + COLLECT_BUDGET_S
        while self.pool.pending and time.monotonic() < deadline:
            arrived = self.pool.poll(COLLECT_GAP_S if results else 0)
            if not arrived:
                break
            results += arrived
        return results

    def run(
        self,
        stop_event: threading.Event,
        *,
        num_runs: int | None = None,
        on_report: Callable[[ScanReport], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> int:
        """Passes until ``stop_event`` is set or ``num_runs`` passes ran; the number of passes."""
        passes = 0
        try:
            while not stop_event.is_set():
                try:
                    report = self.scan(clock(), stop_event=stop_event)
                except (OperationalError, DatabaseError) as exc:  # the DB is briefly away: parse again later
                    log.error(
                        "DAG processor pass failed, retrying in %.0f s: %s",
                        self.check_interval.total_seconds(),
                        _one_line(exc),
                    )
                    stop_event.wait(self.check_interval.total_seconds())
                    continue
                passes += 1
                if on_report is not None:
                    on_report(report)
                if num_runs is not None and passes >= num_runs:
                    break
                stop_event.wait(self.check_interval.total_seconds())
        finally:
            self.close(clock())
        return passes

    def close(self, now: datetime | None = None) -> None:
        """Stop the folder watch and the parse server, and end the ``job`` row."""
        if self.watcher is not None:
            self.watcher.stop()
        self.pool.close()
        self._batch = None
        if self.job_id is not None:
            try:
                with self.db.transaction() as session:
                    end_job(session, self.job_id, now=now or utcnow())
            except (OperationalError, DatabaseError) as exc:
                log.warning("could not end the DAG processor's job row: %s", _one_line(exc))
            self.job_id = None

    def _begin_batch(self, now: datetime) -> _Batch | None:
        changed = self.watcher is not None and self.watcher.take_changed()
        relisted = self.tracker.relist_if_due(now, force=changed)
        changes = self.tracker.changes(now)
        if not changes and not relisted:
            return None
        self.pool.submit(changes.to_parse)
        return _Batch(changes.to_parse, changes.removed, relisted)

    def _abandon_batch(self) -> ScanReport:
        self.pool.close()
        self._batch = None
        return ScanReport(len(self.tracker.listed), 0, 0, 0, 0, 0, 0.0)

    def _finish_batch(self, now: datetime) -> ScanReport:
        """Write the batch in one transaction, then remember what was parsed."""
        batch, self._batch = self._batch, None
        assert batch is not None
        counts = self._write(batch, now)
        for result in batch.results:
            if result.path in batch.stamps:
                self.tracker.record(result.path, batch.stamps[result.path], now, import_stamps(result))
        for path in batch.removed:
            self.tracker.forget(path)
        return ScanReport(
            len(self.tracker.listed),
            len(batch.results),
            counts.dags,
            counts.changed,
            counts.import_errors,
            counts.deactivated,
            time.monotonic() - batch.started,
        )

    def _write(self, batch: _Batch, now: datetime) -> ApplyCounts:
        listed = set(self.tracker.listed)
        paused = self.settings.core.dags_are_paused_at_creation
        with self.db.transaction() as session:
            results = sorted(batch.results, key=lambda r: r.path)  # the first file keeps a shared DAG id
            counts = apply_results(session, results, listed=listed, now=now, paused_at_creation=paused)
            record_parsed(session, results, batch.stamps, now=now)
            counts.deactivated += remove_files(session, batch.removed)
            forget_files(session, batch.removed)
            if batch.relisted:
                counts.deactivated += prune_unlisted(session, self.folders, listed)
            if self.job_id is not None:
                heartbeat(session, self.job_id, now=now)
        self._last_heartbeat = now
        return counts

    def _heartbeat_if_due(self, now: datetime) -> None:
        interval = timedelta(seconds=self.settings.scheduler.heartbeat_interval)
        if self.job_id is None or (self._last_heartbeat is not None and now - self._last_heartbeat < interval):
            return
        with self.db.transaction() as session:
            heartbeat(session, self.job_id, now=now)
        self._last_heartbeat = now


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
