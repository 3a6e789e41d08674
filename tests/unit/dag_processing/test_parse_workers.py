"""Parsing processes that parse many files each: isolation between the files they parse.

One worker (``processes=1``) parses every file in these tests, so whatever one file
leaves behind, the next one in the same process would see.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagflow.dag_processing.pool import ParsePool, ParseResult
from tests.unit.dag_processing.test_processor_pool import parse

USES_COMMON = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator
import common

with DAG(common.DAG_ID, schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")
"""
GOOD = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator
import os

with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id=f"pid_{{os.getpid()}}")
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    dags = tmp_path / "dags"
    dags.mkdir()
    return dags.resolve()


@pytest.fixture
def pool(folder: Path) -> Iterator[ParsePool]:
    parse_pool = ParsePool(processes=1, timeout=2.0, memory_limit_mb=300, files_per_process=50, roots=[str(folder)])
    yield parse_pool
    parse_pool.close()


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path.resolve())


def parsed_by(result: ParseResult) -> int:
    """The pid of the process that parsed a GOOD file (its task id says it)."""
    assert result.error is None, result.error
    (task_id,) = [task["task_id"] for task in result.dags[0]["dag"]["tasks"]]
    return int(task_id.removeprefix("pid_"))


def test_one_process_parses_several_files(pool: ParsePool, folder: Path) -> None:
    paths = [write(folder / f"dag_{i}.py", GOOD.format(dag_id=f"dag_{i}")) for i in range(4)]

    results = parse(pool, paths)

    assert len({parsed_by(results[p]) for p in paths}) == 1


def test_each_file_gets_the_common_module_of_its_own_folder(pool: ParsePool, folder: Path) -> None:
    write(folder / "team_a" / "common.py", "DAG_ID = 'from_a'\n")
    write(folder / "team_b" / "common.py", "DAG_ID = 'from_b'\n")
    first = write(folder / "team_a" / "a_dag.py", USES_COMMON)
    second = write(folder / "team_b" / "b_dag.py", USES_COMMON)

    results = parse(pool, [first, second])
    again = parse(pool, [second, first])

    for found in (results, again):
        assert [d["dag"]["dag_id"] for d in found[first].dags] == ["from_a"]
        assert [d["dag"]["dag_id"] for d in found[second].dags] == ["from_b"]
    assert [Path(i[0]).name for i in results[first].imports] == ["common.py"]
    assert results[first].imports[0][0] == str(folder / "team_a" / "common.py")


def test_an_edited_helper_is_imported_afresh_by_the_same_process(pool: ParsePool, folder: Path) -> None:
    write(folder / "common.py", "DAG_ID = 'first'\n")
    path = write(folder / "uses_dag.py", USES_COMMON)
    assert [d["dag"]["dag_id"] for d in parse(pool, [path])[path].dags] == ["first"]

    write(folder / "common.py", "DAG_ID = 'second_version'\n")

    assert [d["dag"]["dag_id"] for d in parse(pool, [path])[path].dags] == ["second_version"]


def test_sys_exit_is_an_import_error_and_the_next_file_is_parsed(pool: ParsePool, folder: Path) -> None:
    leaving = write(folder / "exit_dag.py", "import sys\nsys.exit(4)\n")
    hard = write(folder / "hard_exit_dag.py", "import os\nos._exit(5)\n")
    good = write(folder / "good_dag.py", GOOD.format(dag_id="good"))

    results = parse(pool, [leaving, hard, good])

    error = results[leaving].error
    assert error is not None and "SystemExit" in error.message and error.lineno == 2
    error = results[hard].error
    assert error is not None and "exited with status 5" in error.message
    assert results[good].error is None


def test_a_hanging_file_is_killed_and_the_others_are_parsed(pool: ParsePool, folder: Path) -> None:
    before = write(folder / "before_dag.py", GOOD.format(dag_id="before"))
    hanging = write(folder / "hang_dag.py", "import time\nwhile True:\n    time.sleep(0.01)\n")
    stubborn = write(
        folder / "stubborn_dag.py",
        """
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
        """,
    )
    after = write(folder / "after_dag.py", GOOD.format(dag_id="after"))

    results = parse(pool, [before, hanging, stubborn, after])

    errors = [results[path].error for path in (hanging, stubborn)]
    assert all(e is not None and "timed out after 2s" in e.message for e in errors)
    assert errors[1] is not None and "killed" in errors[1].message  # it swallowed the soft timeout
    assert parsed_by(results[before]) != parsed_by(results[after])  # a fresh process after the timeouts


def test_a_segfault_fails_only_its_file(pool: ParsePool, folder: Path) -> None:
    good = write(folder / "good_dag.py", GOOD.format(dag_id="good"))
    crash = write(folder / "crash_dag.py", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")

    results = parse(pool, [good, crash])
    after = parse(pool, [good])

    error = results[crash].error
    assert error is not None and "SIGSEGV" in error.message
    assert results[good].error is None and after[good].error is None


def test_a_process_is_replaced_after_files_per_process(folder: Path) -> None:
    pool = ParsePool(processes=1, timeout=5.0, memory_limit_mb=300, files_per_process=2, roots=[str(folder)])
    try:
        paths = [write(folder / f"dag_{i}.py", GOOD.format(dag_id=f"dag_{i}")) for i in range(5)]
        results = parse(pool, paths)
    finally:
        pool.close()

    pids = [parsed_by(results[p]) for p in paths]
    assert pids[0] == pids[1] != pids[2] == pids[3] != pids[4]
    assert os.getpid() not in pids


def test_each_file_gets_the_memory_cap_and_a_hungry_one_fails_alone(pool: ParsePool, folder: Path) -> None:
    first = write(folder / "first_dag.py", GOOD.format(dag_id="first"))
    hungry = write(folder / "hungry_dag.py", "x = 1\nblob = bytearray(500 * 1024 * 1024)\n")
    modest = write(folder / "modest_dag.py", "blob = bytearray(200 * 1024 * 1024)\n" + GOOD.format(dag_id="modest"))

    results = parse(pool, [first, hungry, modest])

    error = results[hungry].error
    assert error is not None and "out of memory" in error.message and error.lineno == 2
    assert results[modest].error is None and results[first].error is None
