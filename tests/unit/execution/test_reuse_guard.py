"""``ReuseGuard``: what one try leaves in a reused task process is undone, or ends its reuse."""

from __future__ import annotations

import os
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagflow.execution.dag_cache import DAG_MODULE_NAMES, DAG_MODULE_PREFIX, DagCache
from dagflow.execution.outcome import TryResult
from dagflow.execution.reused_process import ReuseGuard, dag_module_globals
from dagflow.state import TaskInstanceState as TI

OK = TryResult(TI.SUCCESS)


@pytest.fixture
def dag_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType(f"{DAG_MODULE_PREFIX}test_guard")
    module.COUNTER = 0  # type: ignore[attr-defined]
    module.SEEN = []  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    DAG_MODULE_NAMES.add(module.__name__)  # as ``import_dag_file`` does
    yield module
    del sys.modules[module.__name__]
    DAG_MODULE_NAMES.discard(module.__name__)


def guard() -> ReuseGuard:
    return ReuseGuard(max_tries=0, max_memory_mb=1 << 20)


def test_environment_cwd_and_sys_path_are_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    g = guard()
    g.before_try()
    os.environ["DAGFLOW_GUARD_TEST"] = "leaked"
    os.chdir("/")
    sys.path.append("/guard/leak")
    assert g.after_try(OK) is None
    assert "DAGFLOW_GUARD_TEST" not in os.environ
    assert Path.cwd() == tmp_path
    assert "/guard/leak" not in sys.path


def test_a_removed_working_directory_is_left(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    g = guard()
    g.before_try()
    gone = tmp_path / "gone"
    gone.mkdir()
    os.chdir(gone)
    gone.rmdir()
    assert g.after_try(OK) is None
    assert Path.cwd() == tmp_path


def test_a_failed_try_ends_reuse() -> None:
    g = guard()
    g.before_try()
    assert g.after_try(TryResult(TI.FAILED, "boom")) == "the try did not succeed"
    g.before_try()
    assert g.after_try(None) == "the try did not succeed"


def test_a_rebound_or_resized_dag_module_global_ends_reuse(dag_module: types.ModuleType) -> None:
    g = guard()
    g.before_try()
    assert g.after_try(OK) is None
    g.before_try()
    dag_module.COUNTER += 1  # type: ignore[attr-defined]
    assert g.after_try(OK) == "the try changed a global of a DAG file module"
    g.before_try()
    dag_module.SEEN.append(1)  # type: ignore[attr-defined]
    assert g.after_try(OK) == "the try changed a global of a DAG file module"


def test_a_thread_left_running_ends_reuse() -> None:
    g = guard()
    g.before_try()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert g.after_try(OK) == "the try left a thread running"
    finally:
        stop.set()
        thread.join()


def test_limits_on_tries_and_memory() -> None:
    g = ReuseGuard(max_tries=2, max_memory_mb=1 << 20)
    g.before_try()
    assert g.after_try(OK) is None
    g.before_try()
    assert "max_tries_per_child" in (g.after_try(OK) or "")
    small = ReuseGuard(max_tries=0, max_memory_mb=1)
    small.before_try()
    assert "max_memory_per_child_mb" in (small.after_try(OK) or "")


def test_dag_module_globals_reads_the_modules_the_dag_cache_imported(tmp_path: Path) -> None:
    """Only what ``DagCache`` imported is compared (not every module in ``sys.modules``): a
    module under the prefix that it did not import is not read; a failed import leaves none."""
    path = tmp_path / "guarded_dag.py"
    path.write_text(
        "from datetime import datetime\n"
        "from dagflow import DAG\n"
        "from dagflow.operators import EmptyOperator\n"
        "SEEN = []\n"
        "with DAG('guarded', schedule=None, start_date=datetime(2024, 1, 1)):\n"
        "    EmptyOperator(task_id='a')\n"
    )
    stray = types.ModuleType(f"{DAG_MODULE_PREFIX}stray")
    sys.modules[stray.__name__] = stray
    broken = tmp_path / "broken_guarded_dag.py"
    broken.write_text("raise RuntimeError('no')\n")
    try:
        DagCache().get_dag(path, "guarded")
        with pytest.raises(Exception, match="RuntimeError"):
            DagCache().get_dags(broken)
        found = dag_module_globals()
        imported = [name for name in found if sys.modules[name].__file__ == str(path.resolve())]
        assert len(imported) == 1
        assert found[imported[0]]["SEEN"][1] == 0
        assert stray.__name__ not in found
        assert not [name for name in DAG_MODULE_NAMES if name not in sys.modules]
    finally:
        del sys.modules[stray.__name__]
