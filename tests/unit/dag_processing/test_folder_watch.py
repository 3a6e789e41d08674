"""New DAG files show up at once: the DAG processor watches its folders (events, else polling)."""

from __future__ import annotations

import time
from pathlib import Path

import pendulum
import pytest

from dagflow.config import Settings
from dagflow.dag_processing.folder_watch import FolderWatcher
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.models import DagModel

DAG_FILE = """
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("{dag_id}", schedule=None):
    EmptyOperator(task_id="a")
"""


def _wait_changed(watcher: FolderWatcher, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watcher.take_changed():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("use_events", [True, False], ids=["events", "poll"])
def test_watcher_sees_new_and_removed_files(tmp_path: Path, use_events: bool) -> None:
    (tmp_path / "sub").mkdir()
    watcher = FolderWatcher([tmp_path], use_events=use_events)
    watcher.start()
    try:
        assert watcher.mode == ("events" if use_events else "poll")
        time.sleep(0.2)  # the watch is set up
        assert not watcher.take_changed()
        (tmp_path / "sub" / "new_dag.py").write_text("x = 1\n")
        assert _wait_changed(watcher)
        assert not watcher.take_changed()  # once per change
        (tmp_path / "sub" / "new_dag.py").unlink()
        assert _wait_changed(watcher)
    finally:
        watcher.stop()
    assert watcher.mode == "off"


def test_a_new_dag_file_is_parsed_within_two_seconds(settings: Settings, db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "first.py").write_text(DAG_FILE.format(dag_id="first"))
    settings = settings.replace(core={"dags_folder": folder, "load_examples": False})
    assert settings.scheduler.dag_dir_list_interval == 60  # the folder is not listed again by time
    processor = DagProcessor(settings, db)
    try:
        processor.scan(pendulum.now("UTC"))
        time.sleep(0.3)
        (folder / "second.py").write_text(DAG_FILE.format(dag_id="second"))
        written = time.monotonic()
        while time.monotonic() - written < 10:
            processor.scan_if_due(pendulum.now("UTC"))  # what the scheduler calls on each tick
            with db.transaction(readonly=True) as session:
                if session.get(DagModel, "second") is not None:
                    break
            time.sleep(0.05)
        elapsed = time.monotonic() - written
    finally:
        processor.close()
    print(f"new DAG file in the DB after {elapsed:.2f}s")
    assert elapsed < 3.0, f"the new file took {elapsed:.2f}s to show up"
