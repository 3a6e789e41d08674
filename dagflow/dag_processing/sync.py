"""Parse DAG folders in *this* process and store the result (for tests and embedding).

Production parsing goes through ``DagProcessor`` (isolated processes, timeouts); this is
the same pass without the isolation, for callers that trust their DAG files and want it
synchronous. Results are written by the processor's own ``apply`` functions, so both
paths store DAGs, import errors and deactivations identically.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from pathlib import Path

import pendulum

from dagflow.dag_processing.apply import ApplyCounts, apply_results, prune_unlisted
from dagflow.dag_processing.loader import list_dag_files, load_file
from dagflow.dag_processing.pool import ParsedImportError, ParseResult
from dagflow.db import Database
from dagflow.serialization import serialize_dag


def sync_folders(
    db: Database, folders: Iterable[Path], *, paused_at_creation: bool, ignore_syntax: str = "glob"
) -> ApplyCounts:
    """Import every DAG file under ``folders`` here and store what they define."""
    folders = list(folders)
    results = [_parse(path) for path in list_dag_files(folders, ignore_syntax=ignore_syntax)]
    listed = {result.path for result in results}
    now = pendulum.now("UTC")
    with db.transaction() as session:
        counts = apply_results(session, results, listed=listed, now=now, paused_at_creation=paused_at_creation)
        counts.deactivated += prune_unlisted(session, folders, listed)
    return counts


def _parse(path: Path) -> ParseResult:
    loaded = load_file(path)
    if loaded.error is not None:
        error = loaded.error
        cause = error.__cause__
        trace = "".join(traceback.format_exception(cause)) if cause is not None else None
        parsed = ParsedImportError(error.filename, error.message, error.lineno, trace)
        return ParseResult(str(path), (), parsed, 0.0)
    return ParseResult(str(path), tuple(serialize_dag(dag) for dag in loaded.dags), None, 0.0)
