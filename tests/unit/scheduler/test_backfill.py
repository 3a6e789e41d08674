"""Backfill interval selection and classification (pure), and the service's plan on a real DB."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pendulum
import pytest
import sqlalchemy as sa

from dagflow.config import Settings
from dagflow.dag_processing.sync import sync_folders
from dagflow.db import Database
from dagflow.models import Backfill, DagRun
from dagflow.scheduler.backfill import (
    CREATE,
    OWN,
    RERUN,
    SKIP,
    BackfillError,
    ExistingRun,
    backfill_intervals,
    count_by_state,
    plan_steps,
)
from dagflow.serialization.objects import SerializedDag
from dagflow.services.backfills import backfill_progress, cancel_backfill, create_backfill, list_backfills
from dagflow.state import DagRunState as DR
from dagflow.timetables import DataInterval

UTC = UTC
DAILY = {"type": "cron", "expression": "@daily", "timezone": "UTC"}
DAG_FILE = """
from datetime import datetime
from dagflow import DAG
from dagflow.operators import EmptyOperator

with DAG("bf_daily", schedule="@daily", start_date=datetime(2024, 1, 1), max_active_runs=4):
    EmptyOperator(task_id="a") >> EmptyOperator(task_id="b")

with DAG("bf_manual", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a")

with DAG("bf_past", schedule="@daily", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="a", depends_on_past=True)
"""


def day(n: int) -> datetime:
    """Midnight UTC of 2024-01-n."""
    return datetime(2024, 1, n, tzinfo=UTC)


def intervals(first: int, last: int) -> list[DataInterval]:
    """Daily intervals starting 2024-01-first .. 2024-01-last."""
    return [DataInterval(day(n), day(n + 1)) for n in range(first, last + 1)]


def existing(n: int, state: DR, *, backfill_id: int | None = None, end: datetime | None = None) -> ExistingRun:
    """A run at 2024-01-n."""
    return ExistingRun(n, f"scheduled__{n}", state, end, backfill_id)


# --- intervals ---------------------------------------------------------------------------
def test_intervals_whose_start_lies_in_the_range_inclusive() -> None:
    dag = SerializedDag(dag_id="d", tasks={}, timetable=DAILY)
    got = backfill_intervals(dag, day(1), day(5))
    assert [(i.start, i.end) for i in got] == [(day(n), day(n + 1)) for n in range(1, 6)]
    assert [i.start for i in backfill_intervals(dag, datetime(2024, 1, 1, 12, tzinfo=UTC), day(3))] == [day(2), day(3)]


def test_unscheduled_dag_and_reversed_range_are_refused() -> None:
    with pytest.raises(BackfillError, match="no schedule"):
        backfill_intervals(SerializedDag(dag_id="d", tasks={}, timetable={"type": "none"}), day(1), day(2))
    with pytest.raises(BackfillError, match="after it ends"):
        backfill_intervals(SerializedDag(dag_id="d", tasks={}, timetable=DAILY), day(5), day(1))


# --- classification ----------------------------------------------------------------------
RUNS = {
    day(1): existing(1, DR.FAILED),
    day(2): existing(2, DR.SUCCESS),
    day(3): existing(3, DR.RUNNING),
    day(4): existing(4, DR.QUEUED),
}


@pytest.mark.parametrize(
    ("reprocess", "expected"),
    [
        ("none", [SKIP, SKIP, SKIP, SKIP, CREATE]),
        ("failed", [RERUN, SKIP, SKIP, SKIP, CREATE]),
        ("completed", [RERUN, RERUN, SKIP, SKIP, CREATE]),
    ],
)
def test_reprocess_behaviors(reprocess: str, expected: list[str]) -> None:
    steps = plan_steps(intervals(1, 5), RUNS, reprocess=reprocess)
    assert [s.action for s in steps] == expected
    assert [s.logical_date for s in steps] == [day(n) for n in range(1, 6)]


def test_run_backwards_reverses_the_order() -> None:
    steps = plan_steps(intervals(1, 5), RUNS, reprocess="failed", backwards=True)
    assert [s.logical_date for s in steps] == [day(n) for n in range(5, 0, -1)]


def test_own_runs_and_runs_finished_after_the_backfill_started() -> None:
    created = datetime(2024, 2, 1, tzinfo=UTC)
    runs = {
        day(1): existing(1, DR.FAILED, backfill_id=7),
        day(2): existing(2, DR.FAILED, end=datetime(2024, 3, 1, tzinfo=UTC)),  # was running at creation
        day(3): existing(3, DR.FAILED, end=datetime(2024, 1, 20, tzinfo=UTC)),
    }
    steps = plan_steps(intervals(1, 4), runs, reprocess="failed", backfill_id=7, created_at=created)
    assert [s.action for s in steps] == [OWN, SKIP, RERUN, CREATE]
    assert count_by_state(steps) == {"success": 0, "failed": 1, "running": 0, "queued": 0, "pending": 2}


def test_unknown_reprocess_behavior() -> None:
    with pytest.raises(BackfillError, match="unknown reprocess"):
        plan_steps(intervals(1, 2), {}, reprocess="all")


# --- the service on a DB -----------------------------------------------------------------
@pytest.fixture
def dag_db(settings: Settings, db: Database, tmp_path: Path) -> Database:
    """``db`` with the three DAGs of ``DAG_FILE`` stored (unpaused)."""
    folder = settings.core.dags_folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bf.py").write_text(textwrap.dedent(DAG_FILE))
    sync_folders(db, [folder], paused_at_creation=False)
    return db


def counts(db: Database) -> tuple[int, int]:
    """(backfill rows, dag runs)."""
    with db.transaction() as session:
        return (
            session.scalar(sa.select(sa.func.count()).select_from(Backfill)) or 0,
            session.scalar(sa.select(sa.func.count()).select_from(DagRun)) or 0,
        )


def test_dry_run_plans_and_writes_nothing(settings: Settings, dag_db: Database) -> None:
    plan = create_backfill(settings, dag_db, "bf_daily", day(1), day(10), dry_run=True)
    assert plan.backfill_id is None and plan.max_active_runs == 4
    assert [s.action for s in plan.steps] == [CREATE] * 10
    assert plan.to_dict()["intervals"][0]["logical_date"] == "2024-01-01T00:00:00+00:00"
    assert counts(dag_db) == (0, 0)


def test_create_writes_only_the_backfill_row(settings: Settings, dag_db: Database) -> None:
    plan = create_backfill(
        settings,
        dag_db,
        "bf_daily",
        pendulum.datetime(2024, 1, 1),
        day(3),
        reprocess_behavior="failed",
        max_active_runs=2,
        conf={"x": 1},
    )
    assert plan.backfill_id is not None and len(plan.to_run) == 3
    assert counts(dag_db) == (1, 0)
    (row,) = list_backfills(dag_db, "bf_daily")
    assert row.status == "running" and row.max_active_runs == 2
    progress = backfill_progress(dag_db, plan.backfill_id)
    assert (progress.pending, progress.total, progress.done) == (3, 3, 0)
    with pytest.raises(BackfillError, match="not completed yet"):
        create_backfill(settings, dag_db, "bf_daily", day(1), day(3))
    cancelled = cancel_backfill(dag_db, plan.backfill_id)
    assert cancelled.backfill.status == "cancelled" and cancelled.queued_runs_failed == 0
    assert backfill_progress(dag_db, plan.backfill_id).cancelled == 3
    create_backfill(settings, dag_db, "bf_daily", day(1), day(3))  # the cancelled one no longer blocks


def test_service_refusals(settings: Settings, dag_db: Database) -> None:
    with pytest.raises(BackfillError, match="no schedule"):
        create_backfill(settings, dag_db, "bf_manual", day(1), day(3))
    with pytest.raises(BackfillError, match="depends_on_past"):
        create_backfill(settings, dag_db, "bf_past", day(1), day(3), run_backwards=True)
    with pytest.raises(BackfillError, match="at least 1"):
        create_backfill(settings, dag_db, "bf_daily", day(1), day(3), max_active_runs=0)
    assert counts(dag_db) == (0, 0)
