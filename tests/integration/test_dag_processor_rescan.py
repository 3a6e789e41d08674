"""Re-scans parse only what changed: the DAG file, or a helper module it imported.

Every DAG file here appends a line to ``parses.log`` each time it is imported, so the
tests count real imports in the real parsing processes. The processor runs with a fake
clock; ``min_file_process_interval`` is 30 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.models import DagModel, SerializedDagModel, TaskOutletAssetReference

T0 = datetime(2024, 1, 1, tzinfo=UTC)

DAG_FILE = """
import os
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator
{imports}
with open({log!r}, "a") as log:
    log.write(os.path.basename(__file__) + "\\n")

with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1), tags=[{tag}]):
    EmptyOperator(task_id="a")
"""


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


@pytest.fixture
def tuned(settings: Settings, dags_folder: Path) -> Settings:
    return settings.replace(
        core={"dags_folder": dags_folder, "load_examples": False},
        scheduler={"parsing_timeout": 5.0, "min_file_process_interval": 30.0, "dag_dir_list_interval": 60.0},
    )


@pytest.fixture
def processor(tuned: Settings, db_any: Database, dags_folder: Path) -> Iterator[DagProcessor]:
    dag_processor = DagProcessor(tuned, db_any, folders=[dags_folder])
    yield dag_processor
    dag_processor.close()


class Folder:
    """Writes DAG files that log their imports, and reads that log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root.parent / "parses.log"

    def dag(self, name: str, *, imports: str = "", tag: str = "") -> None:
        text = DAG_FILE.format(imports=imports, log=str(self.log), dag_id=name.removesuffix(".py"), tag=tag)
        (self.root / name).write_text(textwrap.dedent(text))

    def helper(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def parses(self) -> Counter[str]:
        """Imports per file since the last call."""
        lines = self.log.read_text().split() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return Counter(lines)


@pytest.fixture
def folder(dags_folder: Path) -> Folder:
    return Folder(dags_folder)


def tags(db: Database) -> dict[str, list[str]]:
    with db.transaction(readonly=True) as session:
        return {
            s.dag_id: s.data["dag"].get("tags", [])
            for s in session.scalars(sa.select(SerializedDagModel).order_by(SerializedDagModel.dag_id))
        }


def test_unchanged_files_are_not_parsed_again(processor: DagProcessor, folder: Folder) -> None:
    for i in range(5):
        folder.dag(f"dag_{i}.py")
    processor.scan(T0)
    assert folder.parses() == Counter({f"dag_{i}.py": 1 for i in range(5)})

    report = processor.scan(T0 + timedelta(seconds=10))

    assert report.parsed == 0 and folder.parses() == Counter()


def test_an_edited_file_is_parsed_again_alone(processor: DagProcessor, folder: Folder) -> None:
    folder.dag("one.py")
    folder.dag("two.py")
    processor.scan(T0)
    folder.parses()

    folder.dag("two.py", tag="'edited'")
    report = processor.scan(T0 + timedelta(seconds=5))

    assert folder.parses() == Counter({"two.py": 1})
    assert report.changed == 1 and tags(processor.db)["two"] == ["edited"]


def test_an_edited_helper_reparses_the_dag_files_that_import_it(processor: DagProcessor, folder: Folder) -> None:
    folder.helper("shared.py", "TAG = 'v1'\n")
    folder.dag("first.py", imports="import shared", tag="shared.TAG")
    folder.dag("second.py", imports="from shared import TAG", tag="TAG")
    folder.dag("alone.py")
    processor.scan(T0)
    folder.parses()
    assert processor.scan(T0 + timedelta(seconds=5)).parsed == 0

    folder.helper("shared.py", "TAG = 'version2'\n")
    report = processor.scan(T0 + timedelta(seconds=10))

    assert folder.parses() == Counter({"first.py": 1, "second.py": 1})
    assert report.changed == 2
    assert tags(processor.db) == {"alone": [], "first": ["version2"], "second": ["version2"]}


def test_a_helper_in_a_package_is_followed_and_touch_alone_does_not_reparse(
    processor: DagProcessor, folder: Folder
) -> None:
    (folder.root / "lib").mkdir()
    folder.helper("lib/__init__.py", "")
    folder.helper("lib/names.py", "TAG = 'v1'\n")
    folder.dag("user.py", imports="from lib.names import TAG", tag="TAG")
    processor.scan(T0)
    folder.parses()

    (folder.root / "lib" / "names.py").touch()
    assert processor.scan(T0 + timedelta(seconds=5)).parsed == 0

    folder.helper("lib/names.py", "TAG = 'v22'\n")
    processor.scan(T0 + timedelta(seconds=10))
    assert folder.parses() == Counter({"user.py": 1})
    assert tags(processor.db)["user"] == ["v22"]


def test_a_dag_reading_the_time_is_refreshed_every_min_file_process_interval(
    processor: DagProcessor, folder: Folder
) -> None:
    folder.dag("clock.py")
    processor.scan(T0)
    folder.parses()

    assert processor.scan(T0 + timedelta(seconds=29)).parsed == 0
    assert processor.scan(T0 + timedelta(seconds=31)).parsed == 1
    assert folder.parses() == Counter({"clock.py": 1})


def test_a_deleted_file_deactivates_its_dag(processor: DagProcessor, folder: Folder) -> None:
    folder.dag("keep.py")
    folder.dag("gone.py")
    processor.scan(T0)

    (folder.root / "gone.py").unlink()
    report = processor.scan(T0 + timedelta(seconds=5))

    assert report.deactivated == 1
    with processor.db.transaction(readonly=True) as session:
        active = {row[0]: row[1] for row in session.execute(sa.select(DagModel.dag_id, DagModel.is_active))}
    assert active == {"keep": True, "gone": False}


def test_a_new_processor_resumes_from_the_db_stamps_and_follows_helpers(
    tuned: Settings, db_any: Database, folder: Folder
) -> None:
    folder.helper("shared.py", "TAG = 'v1'\n")
    folder.dag("user.py", imports="import shared", tag="shared.TAG")
    folder.dag("other.py")

    def one_pass(*, resume: bool, at: datetime) -> int:
        dag_processor = DagProcessor(tuned, db_any, folders=[folder.root], resume=resume)
        try:
            return dag_processor.scan(at).parsed
        finally:
            dag_processor.close()

    assert one_pass(resume=True, at=T0) == 2
    assert one_pass(resume=True, at=T0 + timedelta(seconds=5)) == 0
    folder.helper("shared.py", "TAG = 'version2'\n")
    folder.parses()
    assert one_pass(resume=True, at=T0 + timedelta(seconds=10)) == 1
    assert folder.parses() == Counter({"user.py": 1})
    assert one_pass(resume=False, at=T0 + timedelta(seconds=11)) == 2  # --force
    assert one_pass(resume=True, at=T0 + timedelta(seconds=60)) == 2  # past min_file_process_interval


def test_dag_processor_once_skips_unchanged_files_and_force_parses_all(
    tmp_path: Path, migrate_home: Any, folder: Folder
) -> None:
    home = migrate_home(tmp_path / "home")
    env = {
        **os.environ,
        "DAGFLOW_HOME": str(home),
        "DAGFLOW__CORE__DAGS_FOLDER": str(folder.root),
        "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
    }
    folder.helper("shared.py", "TAG = 'v1'\n")
    folder.dag("user.py", imports="import shared", tag="shared.TAG")
    folder.dag("other.py")

    def once(*flags: str) -> str:
        command = [sys.executable, "-m", "dagflow", "dag-processor", "--once", *flags]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "parsed 2 of 2 file(s)" in once()
    assert "parsed 0 of 2 file(s)" in once()
    folder.parses()
    folder.helper("shared.py", "TAG = 'version2'\n")
    assert "parsed 1 of 2 file(s)" in once()
    assert folder.parses() == Counter({"user.py": 1})
    assert "parsed 2 of 2 file(s)" in once("--force")
    assert folder.parses() == Counter({"user.py": 1, "other.py": 1})


def test_asset_references_follow_the_file_through_bulk_writes(processor: DagProcessor, folder: Folder) -> None:
    outlet = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator
from dagflow.sdk.assets import Asset

with DAG("producer", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="land", outlets={outlets})
"""
    (folder.root / "producer.py").write_text(outlet.format(outlets="[Asset('s3://bucket/raw')]"))
    folder.dag("plain.py")
    processor.scan(T0)
    assert references(processor.db) == [("producer", "land")]

    (folder.root / "producer.py").write_text(outlet.format(outlets="[]"))
    processor.scan(T0 + timedelta(seconds=5))

    assert references(processor.db) == []


def references(db: Database) -> list[tuple[str, str]]:
    with db.transaction(readonly=True) as session:
        query = sa.select(TaskOutletAssetReference.dag_id, TaskOutletAssetReference.task_id)
        return [(row[0], row[1]) for row in session.execute(query)]
