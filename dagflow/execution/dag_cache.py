"""The warm-worker DAG cache: import a DAG file by path once per (path, mtime, size).

A worker that runs many tasks of one DAG imports its file once; a changed file (new
mtime or size) is imported again under a fresh module name. Forked task processes
inherit the cache, so the import cost is paid by the worker, not by every try.

A worker's cache (``freeze_imports``) moves what an import left alive into the collector's
permanent generation: the worker's later full collections would otherwise write the GC
header of every object of the DAG (a 1 000-task DAG is tens of thousands of objects), and
each page written in the worker stops being shared with every task process forked from it.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from dagflow.exceptions import DagImportError, DagNotFound
from dagflow.fork_gate import FORK_GATE
from dagflow.sdk.dag import DAG


@dataclass(frozen=True)
class _FileStamp:
    path: str
    mtime_ns: int
    size: int


#: Module names under which ``import_dag_file`` imports DAG files.
DAG_MODULE_PREFIX = "dagflow_dagfile_"
#: Names of the modules ``import_dag_file`` put in ``sys.modules`` (a reused task process
#: checks their globals between tries without walking every module: ``reused_process``).
DAG_MODULE_NAMES: set[str] = set()


class DagCache:
    """DAG objects by file, re-imported only when the file changes.

    ``freeze_imports``: after importing a file, collect and ``gc.freeze()`` (a worker that
    forks task processes; the DAGs it caches live as long as it does anyway).
    """

    def __init__(self, *, freeze_imports: bool = False) -> None:
        self._entries: dict[str, tuple[_FileStamp, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._freeze = freeze_imports

    def get_dag(self, fileloc: str | Path, dag_id: str) -> Any:
        """The DAG ``dag_id`` defined in ``fileloc``; ``DagNotFound`` if it has none."""
        dags = self.get_dags(fileloc)
        try:
            return dags[dag_id]
        except KeyError:
            raise DagNotFound(f"DAG {dag_id!r} not found in {fileloc}") from None

    def get_dags(self, fileloc: str | Path) -> dict[str, Any]:
        """Every DAG defined in ``fileloc``, by dag_id (imported if new or changed)."""
        stamp = _stamp(fileloc)
        with FORK_GATE.section(), self._lock:  # a task process forked meanwhile may need the lock
            cached = self._entries.get(stamp.path)
            if cached and cached[0] == stamp:
                return cached[1]
            dags = import_dag_file(stamp)
            self._entries[stamp.path] = (stamp, dags)
            if self._freeze:
                gc.collect()  # what the import left as garbage is freed, not frozen
                gc.freeze()
            return dags

    def clear(self) -> None:
        """Forget every cached file."""
        with self._lock:
            self._entries.clear()


def _stamp(fileloc: str | Path) -> _FileStamp:
    path = os.path.realpath(fileloc)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DagImportError(str(fileloc), f"cannot read DAG file: {exc.strerror}") from exc
    return _FileStamp(path, st.st_mtime_ns, st.st_size)


def import_dag_file(stamp: _FileStamp) -> dict[str, Any]:
    """Import one DAG file under a unique module name and return its DAGs by id."""
    digest = hashlib.sha1(stamp.path.encode()).hexdigest()[:12]
    name = f"{DAG_MODULE_PREFIX}{digest}_{stamp.mtime_ns}"
    folder = os.path.dirname(stamp.path)
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, stamp.path)
    if spec is None or spec.loader is None:
        raise DagImportError(stamp.path, "not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    DAG_MODULE_NAMES.add(name)
    try:
        with _collecting() as registered:
            spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        DAG_MODULE_NAMES.discard(name)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise DagImportError(stamp.path, f"{type(exc).__name__}: {exc}", _lineno(exc)) from exc
    return _find_dags(module, registered)


def _lineno(exc: BaseException) -> int | None:
    if isinstance(exc, SyntaxError):
        return exc.lineno
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_lineno
        tb = tb.tb_next
    return last


class _collecting:  # noqa: N801 - used like a function: `with _collecting() as dags`
    """Collect every DAG constructed while a file is imported (``with DAG(...)`` unnamed too)."""

    def __enter__(self) -> list[Any]:
        self.registered: list[Any] = []
        DAG._creation_listeners.append(self.registered.append)
        return self.registered

    def __exit__(self, *exc: object) -> None:
        DAG._creation_listeners.remove(self.registered.append)


def _find_dags(module: ModuleType, registered: list[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for value in [*registered, *vars(module).values()]:
        if isinstance(value, DAG) and value.dag_id not in found:
            value.fileloc = module.__file__ or value.fileloc
            found[value.dag_id] = value
    return found
