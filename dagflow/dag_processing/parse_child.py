"""What runs inside a parsing process: import DAG files one at a time, serialize their DAGs, report.

``parse_file`` is the pure part (usable in-process by tests); ``run_worker`` is the body
of a forked child of the parse server. It becomes its own process group (so the server
can kill everything it started), then reads file paths from a pipe, one at a time: for
each it caps the address space the file may add (``RLIMIT_AS``), arms a soft timeout
that raises inside the user's code (so the import error names the line that was running), parses, writes one
length-prefixed JSON document back and forgets the file. Forgetting means: ``sys.path``
as it was before, and every module loaded from under the DAG folders dropped from
``sys.modules``, so two files that each ``import common`` from their own folder get their
own. Third-party modules stay imported (that is the saving). After ``max_files`` files,
a soft timeout, running out of memory, or RSS growth past ``RECYCLE_GROWTH_MB`` the
worker says so in its last document and exits; the server forks a fresh one.

Each document also lists the files the DAG file imported from under the DAG folders
(``imports``: path, mtime, size, digest), so the processor re-parses the DAG file when
one of them changes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import resource
import signal
import struct
import sys
import sysconfig
import time
import traceback
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, NoReturn

from dagflow.dag_processing.loader import MODULE_PREFIX, import_error_from, load_file
from dagflow.exceptions import DagImportError
from dagflow.serialization import deserialize_dag, serialize_dag

#: Exit status of a child that could not even write its result.
CHILD_FAILED = 3
#: A worker whose resident memory grew this much (MB) since it started is replaced.
RECYCLE_GROWTH_MB = 100
#: Header of each result document on the pipe: its length in bytes.
FRAME = struct.Struct("!Q")


class ParseTimeout(BaseException):
    """Raised inside the user's module code when ``parsing_timeout`` is reached."""


def parse_file(path: Path, *, memory_limit_mb: int | None = None, roots: Sequence[str] = ()) -> dict[str, Any]:
    """Import ``path`` here; ``{"dags": [serialized...], "error": {...} | None, "imports": [...]}``.

    ``imports``: ``[path, mtime_ns, size, digest]`` of every module file under ``roots``
    (the DAG folders, resolved, each ending in a separator) that the import loaded, the
    file itself excepted. Modules loaded before the call are not looked at.
    """
    path = Path(path).resolve()
    before = set(sys.modules)
    result = load_file(path)
    loaded = [module for name in set(sys.modules) - before if (module := sys.modules.get(name)) is not None]
    imports = folder_imports(roots, loaded, exclude=str(path))
    if result.error is not None:
        error = error_document(_explained(result.error, memory_limit_mb))
        return {"dags": [], "error": error, "imports": imports}
    try:
        documents = [serialize_dag(dag) for dag in result.dags]
        for document in documents:
            deserialize_dag(document)  # fail here, in the child, rather than in the writer
        json.dumps(documents)
    except Exception as exc:  # noqa: BLE001 - any failure to serialize is this file's import error
        return {"dags": [], "error": error_document(import_error_from(path, exc)), "imports": imports}
    return {"dags": documents, "error": None, "imports": imports}


def folder_imports(roots: Sequence[str], modules: Iterable[ModuleType], *, exclude: str) -> list[list[Any]]:
    """Stamps of the files of ``modules`` that live under ``roots`` (sorted by path)."""
    found: dict[str, list[Any]] = {}
    for module in modules:
        filename = _module_file(module, roots)
        if filename is None or filename == exclude or filename in found:
            continue
        try:
            stat = os.stat(filename)
            with open(filename, "rb") as handle:
                digest = hashlib.blake2b(handle.read(), digest_size=16).hexdigest()
        except OSError:
            continue
        found[filename] = [filename, stat.st_mtime_ns, stat.st_size, digest]
    return [found[name] for name in sorted(found)]


def forget_folder_modules(roots: Sequence[str], before: set[str]) -> None:
    """Drop the modules loaded since ``before`` that are DAG files or live under ``roots``."""
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if name.startswith(MODULE_PREFIX) or module is None or _module_file(module, roots, any_path=True):
            sys.modules.pop(name, None)


def _module_file(module: ModuleType, roots: Sequence[str], *, any_path: bool = False) -> str | None:
    """The resolved source file of ``module`` when it lives under one of ``roots``, else None."""
    filename = getattr(module, "__file__", None)
    candidates = [filename] if isinstance(filename, str) else []
    if any_path:  # namespace packages have no __file__, only a __path__
        candidates += [p for p in getattr(module, "__path__", None) or () if isinstance(p, str)]
    for candidate in candidates:
        resolved = os.path.realpath(candidate)
        if resolved.startswith(tuple(roots)) and not resolved.startswith(_library_dirs()):
            return resolved
    return None


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """The interpreter's library folders: never the user's, even inside a DAG folder (a venv there)."""
    paths = sysconfig.get_paths()
    return tuple(
        os.path.join(os.path.realpath(paths[key]), "") for key in ("stdlib", "platstdlib", "purelib", "platlib")
    )


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


def run_worker(
    in_fd: int,
    out_fd: int,
    *,
    timeout: float,
    memory_limit_mb: int,
    roots: Sequence[str],
    max_files: int,
) -> NoReturn:
    """Body of a forked parsing process: parse the paths read from ``in_fd``; always ``os._exit``."""
    status = 0
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        roots = [os.path.join(os.path.realpath(root), "") for root in roots]
        start_rss = _rss_bytes()
        with os.fdopen(in_fd, "rb") as requests:
            for parsed in range(1, max(1, max_files) + 1):
                line = requests.readline()
                if not line:
                    break  # the server closed our pipe
                limit_memory(memory_limit_mb)  # what this file may add, whatever earlier files loaded
                document = _parse_one(line.decode().rstrip("\n"), timeout, memory_limit_mb, roots)
                grown = _rss_bytes() - start_rss > RECYCLE_GROWTH_MB * 1024 * 1024
                document["recycle"] = bool(parsed >= max_files or grown or document.pop("unsafe", False))
                data = json.dumps(document).encode()
                _write_all(out_fd, FRAME.pack(len(data)) + data)
                if document["recycle"]:
                    break
    except BaseException:  # noqa: BLE001 - the server turns a silent exit into an import error
        status = CHILD_FAILED
    finally:
        os._exit(status)


def _parse_one(path: str, timeout: float, memory_limit_mb: int, roots: Sequence[str]) -> dict[str, Any]:
    """Parse one file under the soft timeout, then forget its modules and ``sys.path`` changes."""
    modules_before, path_before = set(sys.modules), list(sys.path)
    started = time.monotonic()
    _arm_timeout(timeout)
    try:
        document = parse_file(Path(path), memory_limit_mb=memory_limit_mb, roots=roots)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.path[:] = path_before
        forget_folder_modules(roots, modules_before)
    document["duration_s"] = time.monotonic() - started
    cause = document.get("error") or {}
    message = str(cause.get("message") or "")
    # user code was interrupted mid-way (threads, half-made state): start the next file afresh
    document["unsafe"] = "parsing_timeout" in message or "out of memory" in message or "MemoryError" in message
    return document


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def limit_memory(memory_limit_mb: int) -> None:
    """Allow this process ``memory_limit_mb`` MB of address space above what it uses now.

    Only the soft limit is set (the hard one stays as inherited), so a worker can set it
    again, higher, before its next file.
    """
    if memory_limit_mb <= 0:
        return
    with open("/proc/self/statm", encoding="ascii") as statm:
        current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = current + memory_limit_mb * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


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
