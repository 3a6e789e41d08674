"""Bulk actions across DAGs: a dry run lists what would change and writes nothing; the real run does exactly that."""

from __future__ import annotations

import pytest

from dagflow.db import Database
from dagflow.exceptions import InvalidInput
from dagflow.services import events
from dagflow.services.bulk import BulkAction, RunKey, TaskInstanceKey, bulk_runs, bulk_task_instances
from dagflow.services.dag_runs import get_run
from dagflow.services.events import EventFilter
from dagflow.services.listing import Slice
from dagflow.services.task_instances import get_task_instance
from tests.unit.services.seed import add_run, store_dags

sqlite_only = pytest.mark.parametrize("db_any", ["sqlite"], indirect=True)


@pytest.fixture
def db(db_any: Database) -> Database:
    """SQLite, and PostgreSQL for the tests not marked ``sqlite_only`` (row-value ``IN`` on both)."""
    return db_any


@pytest.fixture
def seeded(db: Database) -> dict[str, str]:
    """``etl`` failed on the 1st and succeeded on the 2nd, ``report`` failed on the 1st."""
    store_dags(db)
    return {
        "etl1": add_run(db, "etl", 1, "failed", {"extract": "failed", "load": "upstream_failed"}),
        "etl2": add_run(db, "etl", 2, "success", {"extract": "success", "load": "success"}),
        "rep1": add_run(db, "report", 1, "failed", {"render": "failed"}),
    }


def _state(db: Database, dag_id: str, run_id: str, task_id: str) -> str | None:
    state = get_task_instance(db, dag_id, run_id, task_id).state
    return None if state in (None, "none") else str(state)


def test_clear_task_instances_across_dags_dry_run_first(db: Database, seeded: dict[str, str]) -> None:
    keys = [
        TaskInstanceKey("etl", seeded["etl1"], "extract"),
        TaskInstanceKey("etl", seeded["etl1"], "load"),
        TaskInstanceKey("report", seeded["rep1"], "render"),
        TaskInstanceKey("etl", seeded["etl2"], "load"),
    ]
    preview = bulk_task_instances(db.settings, db, keys, BulkAction.CLEAR, dry_run=True)
    assert preview.dry_run and preview.selected == 4 and preview.unchanged == 0
    assert [(c.dag_id, c.task_id, c.state, c.new_state) for c in preview.changes] == [
        ("etl", "extract", "failed", None),
        ("etl", "load", "upstream_failed", None),
        ("etl", "load", "success", None),
        ("report", "render", "failed", None),
    ]
    assert _state(db, "report", seeded["rep1"], "render") == "failed"  # the dry run wrote nothing
    assert events.query_events(db, EventFilter(event="clear"), Slice()).total == 0

    with events.acting_as("alice"):
        done = bulk_task_instances(db.settings, db, keys, BulkAction.CLEAR, dry_run=False)
    assert done.changes == preview.changes and not done.dry_run
    assert all(_state(db, k.dag_id, k.run_id, k.task_id) is None for k in keys)
    assert get_run(db, "report", seeded["rep1"]).state == "queued"  # finished runs go back to queued
    assert get_task_instance(db, "etl", seeded["etl1"], "extract").try_number == 1  # the next try is 2
    cleared = events.query_events(db, EventFilter(event="clear"), Slice(order_by=("id",))).items
    assert [(e.actor, e.dag_id, e.run_id, e.extra and e.extra["count"]) for e in cleared] == [
        ("alice", "etl", seeded["etl1"], 2),
        ("alice", "etl", seeded["etl2"], 1),
        ("alice", "report", seeded["rep1"], 1),
    ]


@sqlite_only
def test_mark_leaves_rows_already_in_that_state(db: Database, seeded: dict[str, str]) -> None:
    keys = [TaskInstanceKey("etl", seeded["etl2"], "load"), TaskInstanceKey("report", seeded["rep1"], "render")]
    result = bulk_task_instances(db.settings, db, keys, BulkAction.MARK_SUCCESS, dry_run=False)
    assert [(c.task_id, c.state, c.new_state) for c in result.changes] == [("render", "failed", "success")]
    assert result.unchanged == 1
    assert _state(db, "report", seeded["rep1"], "render") == "success"
    marked = events.query_events(db, EventFilter(event="mark_task_instance"), Slice()).items
    assert [(e.task_id, e.try_number, e.extra) for e in marked] == [
        ("render", 1, {"state": "success", "previous_state": "failed", "bulk": True})
    ]


@sqlite_only
def test_runs_clear_only_failed_mark_and_delete(db: Database, seeded: dict[str, str]) -> None:
    both = [RunKey("etl", seeded["etl1"]), RunKey("etl", seeded["etl2"])]
    only_failed = bulk_runs(db.settings, db, both, BulkAction.CLEAR, dry_run=True, only_failed=True)
    assert [(c.run_id, c.task_id) for c in only_failed.changes] == [
        (seeded["etl1"], "extract"),
        (seeded["etl1"], "load"),
    ]
    assert only_failed.unchanged == 1  # the successful run has nothing failed

    marked = bulk_runs(db.settings, db, both, BulkAction.MARK_FAILED, dry_run=False)
    assert [(c.run_id, c.state, c.new_state) for c in marked.changes] == [(seeded["etl2"], "success", "failed")]
    assert get_run(db, "etl", seeded["etl2"]).state == "failed"

    rep = [RunKey("report", seeded["rep1"])]
    assert len(bulk_runs(db.settings, db, rep, BulkAction.DELETE, dry_run=True).changes) == 1
    assert get_run(db, "report", seeded["rep1"]).state == "failed"  # still there after the dry run
    bulk_runs(db.settings, db, rep, BulkAction.DELETE, dry_run=False)
    with pytest.raises(LookupError):
        get_run(db, "report", seeded["rep1"])
    names = [e.event for e in events.query_events(db, EventFilter(), Slice(order_by=("id",))).items]
    assert names[-2:] == ["mark_dag_run", "delete_dag_run"]


@sqlite_only
def test_bad_selections_are_refused(db: Database, seeded: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="select at least one"):
        bulk_task_instances(db.settings, db, [], BulkAction.CLEAR, dry_run=True)
    with pytest.raises(InvalidInput, match="not an action here"):
        bulk_task_instances(db.settings, db, [TaskInstanceKey("etl", "r", "t")], BulkAction.DELETE, dry_run=True)
    with pytest.raises(InvalidInput, match="not a task instance key"):
        TaskInstanceKey.parse("etl|run|task")
    with pytest.raises(InvalidInput):
        RunKey.parse("etl|bad run id")
    key = TaskInstanceKey("etl", seeded["etl1"], "load", 3)
    assert TaskInstanceKey.parse(key.text) == key and RunKey.parse(RunKey("etl", "r").text) == RunKey("etl", "r")
