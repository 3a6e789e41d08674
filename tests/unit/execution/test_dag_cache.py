"""The warm DAG cache: import once per (path, mtime, size), find unnamed DAGs."""

from __future__ import annotations

import gc
import os
from pathlib import Path

import pytest

from dagflow.exceptions import DagImportError, DagNotFound
from dagflow.execution.dag_cache import DagCache

SOURCE = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator

IMPORTS = globals().setdefault("IMPORTS", 0) + 1
with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="{task_id}")
"""


def write(path: Path, dag_id: str = "cached", task_id: str = "a") -> None:
    path.write_text(SOURCE.format(dag_id=dag_id, task_id=task_id))


def test_unnamed_dag_is_found_and_cached(tmp_path: Path) -> None:
    path = tmp_path / "cached_dag.py"
    write(path)
    cache = DagCache()
    first = cache.get_dag(path, "cached")
    assert first.task_ids == ["a"]
    assert cache.get_dag(path, "cached") is first
    assert first.fileloc == os.path.realpath(path)


def test_changed_file_is_imported_again(tmp_path: Path) -> None:
    path = tmp_path / "changing_dag.py"
    write(path)
    cache = DagCache()
    first = cache.get_dag(path, "cached")
    write(path, task_id="bb")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = cache.get_dag(path, "cached")
    assert second is not first and second.task_ids == ["bb"]


def test_errors(tmp_path: Path) -> None:
    cache = DagCache()
    path = tmp_path / "ok_dag.py"
    write(path)
    with pytest.raises(DagNotFound):
        cache.get_dag(path, "other")
    broken = tmp_path / "broken_dag.py"
    broken.write_text("import nope_not_a_module\n")
    with pytest.raises(DagImportError, match="ModuleNotFoundError"):
        cache.get_dags(broken)
    with pytest.raises(DagImportError, match="cannot read"):
        cache.get_dags(tmp_path / "missing.py")


def test_a_workers_cache_freezes_what_an_import_left_alive(tmp_path: Path) -> None:
    """``freeze_imports`` (a LocalExecutor worker's cache): the imported DAG is in the
    collector's permanent generation, so the worker's collections never write to its pages
    (shared with the task processes it forks). The default cache freezes nothing."""
    path = tmp_path / "frozen_dag.py"
    write(path, dag_id="frozen")
    gc.unfreeze()
    try:
        plain = DagCache().get_dag(path, "frozen")
        assert gc.get_freeze_count() == 0
        assert any(obj is plain for obj in gc.get_objects())
        write(path, dag_id="frozen", task_id="b")
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        frozen = DagCache(freeze_imports=True).get_dag(path, "frozen")
        assert frozen.task_ids == ["b"]
        assert gc.get_freeze_count() > 0
        assert not any(obj is frozen for obj in gc.get_objects())  # not in generations 0-2
    finally:
        gc.unfreeze()
