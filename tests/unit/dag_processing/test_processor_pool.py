"""The parse pool with real processes: results, timeout kill, memory cap, isolation."""

from __future__ import annotations

import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagflow.dag_processing.pool import ParsePool, ParseResult

GOOD = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("good", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""


@pytest.fixture
def pool() -> Iterator[ParsePool]:
    parse_pool = ParsePool(processes=2, timeout=2.0, memory_limit_mb=300)
    yield parse_pool
    parse_pool.close()


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path.resolve())


def parse(pool: ParsePool, paths: list[str], *, within: float = 30.0) -> dict[str, ParseResult]:
    pool.submit(paths)
    results: dict[str, ParseResult] = {}
    deadline = time.monotonic() + within
    while pool.pending and time.monotonic() < deadline:
        results.update((r.path, r) for r in pool.poll(0.1))
    assert not pool.pending, f"still pending: {pool.pending}"
    return results


def test_good_file_returns_serialized_dags(pool: ParsePool, tmp_path: Path) -> None:
    path = write(tmp_path, "good.py", GOOD)

    result = parse(pool, [path])[path]

    assert result.error is None
    assert [d["dag"]["dag_id"] for d in result.dags] == ["good"]
    assert result.dags[0]["dag"]["fileloc"] == path


def test_infinite_loop_is_stopped_at_the_timeout_with_its_line(pool: ParsePool, tmp_path: Path) -> None:
    loop = write(tmp_path, "loop_dag.py", "x = 1\nwhile True:\n    pass\n")
    good = write(tmp_path, "good.py", GOOD)

    results = parse(pool, [loop, good])  # returning at all means the endless loop was stopped

    error = results[loop].error
    assert error is not None and "timed out after 2s" in error.message
    assert error.lineno in (2, 3)
    assert results[good].error is None


def test_loop_that_swallows_the_soft_timeout_is_killed_with_its_process_group(pool: ParsePool, tmp_path: Path) -> None:
    marker = tmp_path / "grandchild.pid"
    loop = write(
        tmp_path,
        "stubborn_dag.py",
        f"""
        import subprocess
        p = subprocess.Popen(["sleep", "300"])
        open({str(marker)!r}, "w").write(str(p.pid))
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    """,
    )

    error = parse(pool, [loop])[loop].error

    assert error is not None and "timed out after 2s" in error.message and "killed" in error.message
    grandchild = int(marker.read_text())
    time.sleep(0.2)
    assert not _alive(grandchild)


def test_huge_allocation_hits_the_memory_cap(pool: ParsePool, tmp_path: Path) -> None:
    path = write(tmp_path, "hungry_dag.py", "x = 1\nblob = bytearray(500 * 1024 * 1024)\n")

    error = parse(pool, [path])[path].error

    assert error is not None
    assert "out of memory" in error.message
    assert error.lineno == 2


def test_crash_of_the_child_becomes_an_import_error(pool: ParsePool, tmp_path: Path) -> None:
    path = write(tmp_path, "crash_dag.py", "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n")

    error = parse(pool, [path])[path].error

    assert error is not None and "SIGSEGV" in error.message


def test_children_do_not_leak_state_into_each_other(pool: ParsePool, tmp_path: Path) -> None:
    first = write(tmp_path, "first_dag.py", "import builtins\nbuiltins.DAGFLOW_LEAK = 1\n")
    second = write(tmp_path, "second_dag.py", "import builtins\nassert not hasattr(builtins, 'DAGFLOW_LEAK')\n")

    parse(pool, [first])
    assert parse(pool, [second])[second].error is None


def test_a_killed_server_is_restarted_and_the_file_parsed(pool: ParsePool, tmp_path: Path) -> None:
    path = write(tmp_path, "slow_dag.py", "import time\ntime.sleep(0.5)\n" + textwrap.dedent(GOOD))
    pool.submit([path])
    assert pool._proc is not None
    pool._proc.kill()

    result = parse(pool, [])[path]

    assert result.error is None and len(result.dags) == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is not alive
        return stat.read().split()[2] != "Z"
