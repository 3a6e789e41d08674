"""The CLI's own parse: timeout-guarded, and only files changed since any process last parsed them.

A DAG folder holds a file that loops at import. The first CLI pass pays one
``parsing_timeout`` for it (an import error); the next passes, in fresh processors as
fresh CLI calls make them, parse nothing until a file's content changes; ``load_dag``
(``dags test`` / ``tasks test``) imports only the named DAG's file, never the looping one.
"""

from __future__ import annotations

import time
from pathlib import Path

import pendulum
import pytest

from dagflow.cli.dag_files import load_dag
from dagflow.config import Settings
from dagflow.dag_processing.processor import DagProcessor, ScanReport
from dagflow.db import Database
from dagflow.exceptions import DagImportError, DagNotFound

GOOD = """
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("good", schedule=None):
    EmptyOperator(task_id="{task_id}")
"""
LOOP = "import time\nfrom dagflow import DAG  # noqa\nwhile True:\n    time.sleep(0.01)\n"


@pytest.fixture
def folder_settings(settings: Settings, tmp_path: Path) -> Settings:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "good.py").write_text(GOOD.format(task_id="a"))
    (folder / "loop.py").write_text(LOOP)
    return settings.replace(
        core={"dags_folder": folder, "load_examples": False},
        scheduler={"parsing_timeout": 1.0},
    )


def _cli_pass(settings: Settings, db: Database) -> ScanReport:
    processor = DagProcessor(settings, db, changed_only=True)
    try:
        return processor.scan(pendulum.now("UTC"))
    finally:
        processor.close()


def test_unchanged_files_are_not_parsed_again_by_a_new_process(folder_settings: Settings, db: Database) -> None:
    first = _cli_pass(folder_settings, db)
    assert (first.parsed, first.dags, first.import_errors) == (2, 1, 1)

    again = _cli_pass(folder_settings, db)
    assert again.parsed == 0  # the looping file is not waited for again

    (Path(folder_settings.core.dags_folder) / "good.py").write_text(GOOD.format(task_id="b"))
    changed = _cli_pass(folder_settings, db)
    assert (changed.parsed, changed.changed) == (1, 1)


def test_load_dag_never_imports_the_looping_file(folder_settings: Settings, db: Database) -> None:
    started = time.monotonic()
    dag = load_dag(folder_settings, db, "good")
    assert dag.task_ids == ["a"]
    assert time.monotonic() - started < 10  # one parsing_timeout (1 s) for loop.py, no hang

    with pytest.raises(DagNotFound, match="1 file\\(s\\) failed to import"):
        load_dag(folder_settings, db, "missing")
    (Path(folder_settings.core.dags_folder) / "good.py").write_text(
        "from dagflow import DAG\nraise RuntimeError('broken now')\n"
    )
    with pytest.raises(DagImportError, match="broken now"):
        load_dag(folder_settings, db, "good")
