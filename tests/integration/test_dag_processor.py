"""The DAG processor end to end: real parsing processes, a real DB, a fake clock."""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagflow.config import Settings, load_settings
from dagflow.dag_processing.job import JOB_TYPE, processor_alive
from dagflow.dag_processing.processor import DagProcessor
from dagflow.db import Database
from dagflow.models import DagModel, DagRun, ImportError_, Job, SerializedDagModel
from dagflow.scheduler.loop import Scheduler
from dagflow.serialization import SerializedDag, deserialize_dag
from tests.unit.scheduler.test_tick import RecordingExecutor

T0 = datetime(2024, 1, 1, tzinfo=UTC)

GOOD = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("{dag_id}", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="{last}")
"""
BROKEN = {
    "syntax_dag.py": ("from dagflow import DAG\n\ndef oops(:\n    pass\n", 3, "SyntaxError"),
    "import_dag.py": ("from dagflow import DAG\nimport no_such_module_here\n", 2, "ModuleNotFoundError"),
    "loop_dag.py": ("from dagflow import DAG\nx = 1\nwhile True:\n    x += 1\n", None, "timed out after 2s"),
    "cycle_dag.py": (
        "from datetime import datetime\nfrom dagflow import DAG\nfrom dagflow.operators import EmptyOperator\n"
        "with DAG('cyclic', schedule=None, start_date=datetime(2024, 1, 1)):\n"
        "    a = EmptyOperator(task_id='a')\n    b = EmptyOperator(task_id='b')\n    a >> b >> a\n",
        None,
        "cycle",
    ),
    "memory_dag.py": ("from dagflow import DAG\nx = bytearray(500 * 1024 * 1024)\n", 2, "out of memory"),
}


def good(dag_id: str, last: str = "b") -> str:
    return textwrap.dedent(GOOD.format(dag_id=dag_id, last=last))


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    return folder


@pytest.fixture
def processor(settings: Settings, db_any: Database, dags_folder: Path) -> Iterator[DagProcessor]:
    tuned = settings.replace(
        scheduler={"parsing_timeout": 2.0, "min_file_process_interval": 30.0, "dag_dir_list_interval": 60.0}
    )
    dag_processor = DagProcessor(tuned, db_any, folders=[dags_folder])
    yield dag_processor
    dag_processor.close()


def rows(db: Database) -> dict[str, Any]:
    with db.transaction(readonly=True) as session:
        return {
            "serialized": {
                s.dag_id: (s.dag_hash, s.last_updated) for s in session.scalars(sa.select(SerializedDagModel))
            },
            "dags": {d.dag_id: (d.is_active, d.has_import_errors) for d in session.scalars(sa.select(DagModel))},
            "errors": {
                Path(e.filename).name: (e.id, e.lineno, e.message) for e in session.scalars(sa.select(ImportError_))
            },
        }


def test_broken_files_become_import_errors_and_good_dags_are_stored(processor: DagProcessor, dags_folder: Path) -> None:
    (dags_folder / "one_dag.py").write_text(good("one"))
    (dags_folder / "two_dag.py").write_text(good("two"))
    for name, (text, _, _) in BROKEN.items():
        (dags_folder / name).write_text(text)

    report = processor.scan(T0)

    state = rows(processor.db)
    assert report.parsed == 7 and report.dags == 2 and report.import_errors == 5
    assert set(state["serialized"]) == {"one", "two"}
    errors = state["errors"]
    assert set(errors) == set(BROKEN)
    for name, (_, lineno, expected) in BROKEN.items():
        _, stored_line, message = errors[name]
        assert expected in message, (name, message)
        if lineno is not None:
            assert stored_line == lineno, (name, stored_line)
    assert errors["loop_dag.py"][1] in (3, 4)  # the line that was running when time ran out


def test_rescan_with_nothing_changed_writes_nothing(processor: DagProcessor, dags_folder: Path) -> None:
    for i in range(20):
        (dags_folder / f"dag_{i}.py").write_text(good(f"dag_{i}"))
    (dags_folder / "syntax_dag.py").write_text(BROKEN["syntax_dag.py"][0])
    processor.scan(T0)
    before = rows(processor.db)

    report = processor.scan(T0 + timedelta(seconds=1))

    assert report.parsed == 0 and not report.changed_anything
    assert rows(processor.db) == before


def test_reparse_after_interval_writes_nothing_when_unchanged(processor: DagProcessor, dags_folder: Path) -> None:
    (dags_folder / "one_dag.py").write_text(good("one"))
    processor.scan(T0)
    before = rows(processor.db)

    report = processor.scan(T0 + timedelta(seconds=31))

    assert report.parsed == 1 and report.changed == 0
    assert rows(processor.db)["serialized"] == before["serialized"]


def test_broken_file_keeps_last_good_dag_and_fixing_it_clears_the_error(
    processor: DagProcessor, dags_folder: Path
) -> None:
    path = dags_folder / "one_dag.py"
    path.write_text(good("one"))
    processor.scan(T0)
    good_version = rows(processor.db)["serialized"]["one"]

    path.write_text(good("one") + "\nraise RuntimeError('bad deploy')\n")
    processor.scan(T0 + timedelta(seconds=1))
    state = rows(processor.db)
    assert state["serialized"]["one"] == good_version
    assert state["dags"]["one"] == (True, True)
    assert "bad deploy" in str(state["errors"]["one_dag.py"][2])

    path.write_text(good("one", last="c"))
    report = processor.scan(T0 + timedelta(seconds=2))
    state = rows(processor.db)
    assert report.changed == 1 and state["errors"] == {}
    assert state["dags"]["one"] == (True, False)
    assert state["serialized"]["one"][0] != good_version[0]


def test_deleted_file_and_dropped_dag_are_deactivated(processor: DagProcessor, dags_folder: Path) -> None:
    (dags_folder / "one_dag.py").write_text(good("one"))
    (dags_folder / "pair_dag.py").write_text(good("first") + good("second"))
    processor.scan(T0)
    assert {k for k, v in rows(processor.db)["dags"].items() if v[0]} == {"one", "first", "second"}

    (dags_folder / "one_dag.py").unlink()
    (dags_folder / "pair_dag.py").write_text(good("first"))
    report = processor.scan(T0 + timedelta(seconds=1))

    assert report.deactivated == 2
    assert rows(processor.db)["dags"] == {"one": (False, False), "first": (True, False), "second": (False, False)}


def test_duplicate_dag_id_in_another_file_is_an_import_error(processor: DagProcessor, dags_folder: Path) -> None:
    (dags_folder / "a_dag.py").write_text(good("same"))
    (dags_folder / "b_dag.py").write_text(good("same"))

    processor.scan(T0)

    errors = rows(processor.db)["errors"]
    assert list(errors) == ["b_dag.py"] and "already defined" in str(errors["b_dag.py"][2])


def test_scan_if_due_does_not_block_and_registers_a_live_job(processor: DagProcessor, dags_folder: Path) -> None:
    (dags_folder / "slow_dag.py").write_text("import time\ntime.sleep(1)\n" + good("slow"))
    now = T0
    started = time.perf_counter()
    assert processor.scan_if_due(now) is None
    assert time.perf_counter() - started < 1.0

    report = None
    deadline = time.monotonic() + 20
    while report is None and time.monotonic() < deadline:
        time.sleep(0.05)
        report = processor.scan_if_due(now)
    assert report is not None and report.dags == 1
    with processor.db.transaction(readonly=True) as session:
        job = session.scalars(sa.select(Job).where(Job.job_type == JOB_TYPE)).one()
        assert job.state == "running" and job.latest_heartbeat == now
        assert processor_alive(session, now=now + timedelta(seconds=5), timeout=timedelta(seconds=30))
    processor.close(now + timedelta(seconds=1))
    with processor.db.transaction(readonly=True) as session:
        assert session.scalars(sa.select(Job.state)).one() == "success"


def test_run_survives_a_database_outage_and_writes_after_it(
    settings: Settings, db: Database, dags_folder: Path
) -> None:
    """A pass that cannot write (the DB is locked past the busy timeout) is retried; nothing is lost."""
    import sqlite3
    import threading

    (dags_folder / "kept.py").write_text(good("kept_through_outage"))
    tuned = settings.replace(database={"sqlite_busy_timeout": 0.2})
    locked_db = Database(tuned)
    dag_processor = DagProcessor(tuned, locked_db, folders=[dags_folder], check_interval=0.2)
    dag_processor.start(T0)  # the job row exists before the outage
    blocker = sqlite3.connect(settings.home / "dagflow.db", timeout=5)
    blocker.execute("BEGIN EXCLUSIVE")
    stop = threading.Event()
    passes: list[int] = []
    thread = threading.Thread(target=lambda: passes.append(dag_processor.run(stop, num_runs=1)))
    thread.start()
    try:
        time.sleep(1.5)
        assert thread.is_alive(), "the processor gave up while the database was unavailable"
    finally:
        blocker.rollback()
        blocker.close()
    thread.join(30)
    stop.set()
    assert passes == [1]
    with db.transaction(readonly=True) as session:
        assert session.get(SerializedDagModel, "kept_through_outage") is not None
    locked_db.dispose()


# --- core.default_timezone ------------------------------------------------------------
ZONES = """
from datetime import datetime
import pendulum
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("paris", schedule="0 0 * * *", start_date=datetime(2024, 1, 1), end_date=datetime(2024, 1, 2),
         catchup=True, is_paused_upon_creation=False):
    EmptyOperator(task_id="a")

with DAG("paris_dst", schedule="0 0 * * *", start_date=datetime(2024, 3, 30), end_date=datetime(2024, 4, 1),
         catchup=True, is_paused_upon_creation=False):
    EmptyOperator(task_id="a")

with DAG("tokyo", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Tokyo")):
    EmptyOperator(task_id="a")
"""


def stored_dags(db: Database) -> dict[str, SerializedDag]:
    with db.transaction(readonly=True) as session:
        return {s.dag_id: deserialize_dag(s.data) for s in session.scalars(sa.select(SerializedDagModel))}


def scheduled_run_starts(db: Database, dag_id: str) -> list[str]:
    with db.transaction(readonly=True) as session:
        query = sa.select(DagRun.data_interval_start).where(DagRun.dag_id == dag_id).order_by(DagRun.logical_date)
        return [start.isoformat() for start in session.scalars(query)]


def test_naive_dates_in_dag_files_are_read_in_core_default_timezone(db_any: Database, dags_folder: Path) -> None:
    """The parse server (a fresh interpreter) is handed the zone; the runs follow Paris's wall clock."""
    settings = load_settings(
        {
            "DAGFLOW_HOME": str(db_any.settings.home),
            "DAGFLOW__DATABASE__SQL_ALCHEMY_CONN": db_any.settings.database.sql_alchemy_conn,
            "DAGFLOW__CORE__DEFAULT_TIMEZONE": "Europe/Paris",
            "DAGFLOW__SCHEDULER__POLL_INTERVAL": "0",
        }
    )
    (dags_folder / "zones_dag.py").write_text(textwrap.dedent(ZONES))
    dag_processor = DagProcessor(settings, db_any, folders=[dags_folder])
    try:
        assert dag_processor.scan(T0).dags == 3
    finally:
        dag_processor.close()

    dags = stored_dags(db_any)
    assert dags["paris"].timezone == "Europe/Paris"
    assert dags["paris"].start_date == datetime(2023, 12, 31, 23, tzinfo=UTC)
    assert dags["paris"].end_date == datetime(2024, 1, 1, 23, tzinfo=UTC)
    assert (dags["tokyo"].timezone, dags["tokyo"].start_date) == ("Asia/Tokyo", datetime(2023, 12, 31, 15, tzinfo=UTC))

    Scheduler(settings, db_any, RecordingExecutor()).tick(datetime(2024, 4, 5, tzinfo=UTC))
    assert scheduled_run_starts(db_any, "paris") == ["2023-12-31T23:00:00+00:00", "2024-01-01T23:00:00+00:00"]
    assert scheduled_run_starts(db_any, "paris_dst") == [  # midnight in Paris, before and after summer time
        "2024-03-29T23:00:00+00:00",
        "2024-03-30T23:00:00+00:00",
        "2024-03-31T22:00:00+00:00",
    ]


def test_naive_dates_are_utc_by_default(processor: DagProcessor, dags_folder: Path) -> None:
    (dags_folder / "one_dag.py").write_text(good("one"))
    processor.scan(T0)
    one = stored_dags(processor.db)["one"]
    assert (one.timezone, one.start_date) == ("UTC", datetime(2024, 1, 1, tzinfo=UTC))
