"""What runs inside one parsing process: import one DAG file, serialize its DAGs, report.

``parse_file`` is the pure part (usable in-process by tests); ``run_child`` is the body
of a forked child of the parse server: it becomes its own process group (so the server
can kill everything it started), caps its address space (``RLIMIT_AS``), arms a soft
timeout that raises inside the user's code (so the import error names the line that
was running), parses, writes one JSON document to a pipe and exits with ``os._exit``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from dagflow.dag_processing.loader import import_error_from, load_file
from dagflow.exceptions import DagImportError
from dagflow.serialization import deserialize_dag, serialize_dag

#: Exit status of a child that could not even write its result.
CHILD_FAILED = 3


class ParseTimeout(BaseException):
    """Raised inside the user's module code when ``parsing_timeout`` is reached."""


def parse_file(path: Path, *, memory_limit_mb: int | None = None) -> dict[str, Any]:
    """Import ``path`` here and return ``{"dags": [serialized...], "error": {...} | None}``."""
    path = Path(path).resolve()
    result = load_file(path)
    if result.error is not None:
        return {"dags": [], "error": error_document(_explained(result.error, memory_limit_mb))}
    try:
        documents = [serialize_dag(dag) for dag in result.dags]
        for document in documents:
            deserialize_dag(document)  # fail here, in the child, rather than in the writer
        json.dumps(documents)
    except Exception as exc:  # noqa: BLE001 - any failure to serialize is this file's import error
        return {"dags": [], "error": error_document(import_error_from(path, exc))}
    return {"dags": documents, "error": None}


def warm_up() -> None:
    """Build, serialize and check a small DAG so the parse server's children start warm."""
    from datetime import datetime

    from dagflow import DAG
    from dagflow.operators import EmptyOperator, PythonOperator

    with DAG("dagflow_warm_up", schedule="0 * * * *", start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="a") >> PythonOperator(task_id="b", python_callable=print)
    json.dumps([deserialize_dag(serialize_dag(dag)) and serialize_dag(dag)])


def error_document(error: DagImportError) -> dict[str, Any]:
    """A JSON-safe description of an import error (file, line, message, stack trace)."""
    cause = error.__cause__
    stacktrace = (
        "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))[-20000:]
        if cause is not None
        else None
    )
    return {"filename": error.filename, "lineno": error.lineno, "message": error.message, "stacktrace": stacktrace}


def run_child(path: str, out_fd: int, *, timeout: float, memory_limit_mb: int) -> NoReturn:
    """Body of a forked parsing process: never returns, always ``os._exit``."""
    status = 0
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        limit_memory(memory_limit_mb)
        started = time.monotonic()
        _arm_timeout(timeout)
        try:
            document = parse_file(Path(path), memory_limit_mb=memory_limit_mb)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        document["duration_s"] = time.monotonic() - started
        _write_all(out_fd, json.dumps(document).encode())
    except BaseException:  # noqa: BLE001 - the server turns a silent exit into an import error
        status = CHILD_FAILED
    finally:
        os._exit(status)


def limit_memory(memory_limit_mb: int) -> None:
    """Allow this process ``memory_limit_mb`` MB of address space above what it uses now."""
    if memory_limit_mb <= 0:
        return
    with open("/proc/self/statm", encoding="ascii") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = current + memory_limit_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _arm_timeout(timeout: float) -> None:
    def _expired(_signum: int, _frame: FrameType | None) -> None:
        raise ParseTimeout(f"timed out after {timeout:g}s (scheduler.parsing_timeout)")

    signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, timeout)


def _explained(error: DagImportError, memory_limit_mb: int | None) -> DagImportError:
    """Say plainly why a file stopped when it was our timeout or memory cap."""
    cause = error.__cause__
    if isinstance(cause, ParseTimeout):
        message = str(cause)
    elif isinstance(cause, MemoryError) and memory_limit_mb:
        message = f"killed: out of memory (the import needed more than {memory_limit_mb} MB)"
    else:
        return error
    explained = DagImportError(error.filename, message, error.lineno)
    explained.__cause__ = cause
    return explained


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
