"""Broken DAG files through the real ``dagflow dag-processor`` command, in a subprocess.

Syntax error, import error, infinite loop at import, a cycle and a 500 MB allocation at
import each become an import error (with the line where there is one); the good DAG
next to them is stored; the processor itself exits cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dagflow.config import load_settings
from dagflow.db import Database
from dagflow.models import DagModel, ImportError_, Job, SerializedDagModel

pytestmark = pytest.mark.slow

GOOD = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("healthy", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")
"""
BROKEN = {
    "syntax_dag.py": ("from dagflow import DAG\n\ndef oops(:\n    pass\n", 3, "SyntaxError"),
    "import_dag.py": ("from dagflow import DAG\nimport no_such_module_here\n", 2, "ModuleNotFoundError"),
    "loop_dag.py": ("from dagflow import DAG\nwhile True:\n    pass\n", None, "timed out after 3s"),
    "cycle_dag.py": (
        "from datetime import datetime\nfrom dagflow import DAG\nfrom dagflow.operators import EmptyOperator\n"
        "with DAG('cyclic', schedule=None, start_date=datetime(2024, 1, 1)):\n"
        "    a = EmptyOperator(task_id='a')\n    b = EmptyOperator(task_id='b')\n    a >> b >> a\n",
        None,
        "cycle",
    ),
    "memory_dag.py": ("from dagflow import DAG\nx = bytearray(500 * 1024 * 1024)\n", 2, "out of memory"),
}


@pytest.fixture
def env(tmp_path: Path, migrate_home) -> dict[str, str]:
    home, dags = tmp_path / "home", tmp_path / "dags"
    migrate_home(home)
    dags.mkdir()
    (dags / "healthy_dag.py").write_text(textwrap.dedent(GOOD))
    for name, (text, _, _) in BROKEN.items():
        (dags / name).write_text(text)
    return {
        **os.environ,
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
        "DAGFLOW__SCHEDULER__PARSING_TIMEOUT": "3",
    }


def dagflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "dagflow", *args]


def database(env: dict[str, str]) -> Database:
    return Database(load_settings(env))


def test_each_broken_file_is_an_import_error_and_the_good_dag_is_stored(env: dict[str, str]) -> None:
    started = time.monotonic()
    done = subprocess.run(dagflow("dag-processor", "--once"), env=env, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started

    assert done.returncode == 0, done.stderr
    assert "1 DAG(s)" in done.stdout and "5 import error(s)" in done.stdout
    assert elapsed < 30
    db = database(env)
    with db.transaction(readonly=True) as session:
        errors = {Path(e.filename).name: e for e in session.scalars(sa.select(ImportError_))}
        assert session.scalars(sa.select(SerializedDagModel.dag_id)).all() == ["healthy"]
        assert session.scalars(sa.select(Job.state)).all() == ["success"]
    db.dispose()
    assert set(errors) == set(BROKEN)
    for name, (_, lineno, expected) in BROKEN.items():
        assert expected in errors[name].message, (name, errors[name].message)
        if lineno is not None:
            assert errors[name].lineno == lineno, (name, errors[name].lineno)
    assert errors["loop_dag.py"].lineno in (2, 3)  # where the loop was when time ran out


def test_sigterm_stops_the_processor_cleanly_mid_parse(env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        dagflow("dag-processor"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed once it runs (a loaded machine may take seconds)
    assert first.startswith("dag-processor watching"), first
    time.sleep(1.5)  # the loop file is being parsed now
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)
    out = first + out

    assert proc.returncode == 0, err
    assert "stopped" in out
    db = database(env)
    with db.transaction(readonly=True) as session:
        assert session.scalars(sa.select(Job.state)).all() == ["success"]
    db.dispose()
    assert not _leftover_parsers(env["DAGFLOW_HOME"])


def test_a_file_that_breaks_keeps_its_dag_and_a_fix_clears_the_error(env: dict[str, str]) -> None:
    dags = Path(env["DAGFLOW__CORE__DAGS_FOLDER"])
    for name in BROKEN:
        (dags / name).unlink()
    subprocess.run(dagflow("dag-processor", "--once"), env=env, check=True, capture_output=True, timeout=60)
    healthy = dags / "healthy_dag.py"
    healthy.write_text(textwrap.dedent(GOOD) + "\nwhile True:\n    pass\n")
    subprocess.run(dagflow("dag-processor", "--once"), env=env, check=True, capture_output=True, timeout=60)

    db = database(env)
    with db.transaction(readonly=True) as session:
        model = session.get(DagModel, "healthy")
        assert model is not None and model.is_active and model.has_import_errors
        assert session.get(SerializedDagModel, "healthy") is not None
    healthy.write_text(textwrap.dedent(GOOD))
    subprocess.run(dagflow("dag-processor", "--once"), env=env, check=True, capture_output=True, timeout=60)
    with db.transaction(readonly=True) as session:
        assert session.scalars(sa.select(ImportError_)).all() == []
        model = session.get(DagModel, "healthy")
        assert model is not None and not model.has_import_errors
    db.dispose()


def _leftover_parsers(home: str) -> list[str]:
    """Live processes started for this DAGFLOW_HOME (parse server, parsing children)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"DAGFLOW_HOME={home}".encode() in environ and state != "Z":
            found.append(pid)
    return found
