"""Import DAG files and collect the DAGs they define, turning failures into import errors.

This is the only place that imports user DAG files. It is used in-process by the CLI
(`dags test`, `tasks test`), by the DAG processor's parsing subprocesses and by workers
(through ``DagFileCache``). A broken file never raises out of here: it becomes a
``DagImportError`` with the file, the line in that file and a one-line message.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dagflow.dag_processing.ignore import IgnoreRules
from dagflow.exceptions import DagImportError
from dagflow.sdk.dag import DAG

MODULE_PREFIX = "dagflow_dagfile_"


@dataclass
class FileResult:
    """What one DAG file produced: its DAGs, or the error that stopped it."""

    path: Path
    dags: list[DAG] = field(default_factory=list)
    error: DagImportError | None = None


@dataclass
class FolderResult:
    """All DAGs and import errors of a set of files, keyed by DAG id / file path."""

    dags: dict[str, DAG] = field(default_factory=dict)
    errors: dict[str, DagImportError] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        """Merge one file's result; a DAG id defined twice is an error on the later file."""
        self.files.append(result.path)
        if result.error is not None:
            self.errors[str(result.path)] = result.error
            return
        for dag in result.dags:
            other = self.dags.get(dag.dag_id)
            if other is not None and other.fileloc != dag.fileloc:
                self.errors[str(result.path)] = DagImportError(
                    str(result.path), f"DAG id {dag.dag_id!r} is already defined in {other.fileloc}"
                )
                continue
            self.dags[dag.dag_id] = dag


def list_dag_files(folders: Iterable[Path], *, ignore_syntax: str = "glob") -> list[Path]:
    """Python files under the folders that may define DAGs, sorted.

    Honours ``.airflowignore`` / ``.dagflowignore`` in every folder (``ignore.py``;
    ``ignore_syntax`` is ``core.dag_ignore_file_syntax``); hidden folders and
    ``__pycache__`` are never walked.
    """
    found: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if folder.is_file():
            found.append(folder.resolve())
        elif folder.is_dir():
            found.extend(_walk(folder, IgnoreRules(ignore_syntax).below(folder)))
    return found


def _walk(folder: Path, rules: IgnoreRules) -> Iterator[Path]:
    """The DAG files of ``folder`` and, depth first in name order, of the folders below it."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=True):
            if not entry.name.startswith((".", "__pycache__")) and not rules.ignores(path, is_dir=True):
                yield from _walk(path, rules.below(path))
        elif entry.name.endswith(".py") and not rules.ignores(path) and _may_define_dag(path):
            yield path.resolve()


def load_folder(folders: Iterable[Path], *, ignore_syntax: str = "glob") -> FolderResult:
    """Import every DAG file under ``folders`` in this process."""
    result = FolderResult()
    for path in list_dag_files(folders, ignore_syntax=ignore_syntax):
        result.add(load_file(path))
    return result


def load_file(path: Path) -> FileResult:
    """Import one DAG file and return the DAGs it defines (or its import error)."""
    path = Path(path).resolve()
    try:
        with _collecting_dags() as created:
            module = _import(path)
        dags = _dags_of(module, created, path)
        for dag in dags:
            dag.check_cycle()
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        return FileResult(path=path, error=import_error_from(path, exc))
    return FileResult(path=path, dags=dags)


def import_error_from(path: Path, exc: BaseException) -> DagImportError:
    """A ``DagImportError`` naming the line of ``path`` where ``exc`` was raised."""
    lineno = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
    if lineno is None:
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            if Path(frame.filename).resolve() == path:
                lineno = frame.lineno
                break
    message = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    error = DagImportError(str(path), message.splitlines()[0] if message else type(exc).__name__, lineno)
    error.__cause__ = exc
    return error


def module_name_for(path: Path) -> str:
    """A stable, unique module name for a DAG file (so two files named dag.py do not clash)."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return f"{MODULE_PREFIX}{path.stem}_{digest}"


def _import(path: Path) -> ModuleType:
    name = module_name_for(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.append(folder)  # DAG files may import helper modules next to them
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _dags_of(module: ModuleType, created: list[DAG], path: Path) -> list[DAG]:
    seen: dict[int, DAG] = {}
    candidates: list[Any] = [*created, *vars(module).values()]
    for obj in candidates:
        if isinstance(obj, DAG) and id(obj) not in seen:
            seen[id(obj)] = obj
    dags = list(seen.values())
    for dag in dags:
        dag.fileloc = str(path)
    return dags


@contextmanager
def _collecting_dags() -> Iterator[list[DAG]]:
    """Collect every DAG constructed while the block runs (``with DAG(...)`` without ``as``)."""
    created: list[DAG] = []
    DAG._creation_listeners.append(created.append)
    try:
        yield created
    finally:
        DAG._creation_listeners.remove(created.append)


def _may_define_dag(path: Path) -> bool:
    """Airflow's safe mode: only files that mention 'dag' are imported."""
    try:
        return b"dag" in path.read_bytes().lower()
    except OSError:
        return False
