"""``end_try``: every end of a try writes the move, the history row and the event together, or nothing."""

from __future__ import annotations

import pendulum
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.execution.try_end import Move, TryRecord, end_try
from dagflow.models import TaskInstance, TaskInstanceHistory
from dagflow.state import TaskInstanceState as TI

from ._rows import add_run, add_ti

NOW = pendulum.datetime(2024, 3, 5, 12, tz="UTC")


def _history(db: Database) -> list[TaskInstanceHistory]:
    with db.transaction() as session:
        return list(session.scalars(sa.select(TaskInstanceHistory).order_by(TaskInstanceHistory.id)))


def _running(db: Database, task_id: str = "t") -> int:
    add_run(db)
    ti_id = add_ti(db, task_id, state=TI.RUNNING).ti_id
    with db.transaction() as session:
        session.execute(
            sa.update(TaskInstance)
            .where(TaskInstance.id == ti_id)
            .values(try_number=1, try_token="tok", hostname="w1", pid=7, start_date=NOW)
        )
    return ti_id


def test_a_move_writes_the_state_and_the_history_row_of_that_try(db_any: Database) -> None:
    ti_id = _running(db_any)
    move = Move(TI.UP_FOR_RETRY, TI.RUNNING, {"end_date": NOW, "end_reason": "boom"}, {"try_token": "tok"})
    with db_any.transaction() as session:
        row = end_try(session, ti_id, TryRecord(TI.UP_FOR_RETRY, "boom"), move)
    assert row is not None and row.state is TI.UP_FOR_RETRY
    (history,) = _history(db_any)
    assert (history.try_number, history.state, history.reason, history.hostname, history.pid) == (
        1,
        TI.UP_FOR_RETRY,
        "boom",
        "w1",
        7,
    )


def test_a_refused_move_writes_nothing(db_any: Database) -> None:
    ti_id = _running(db_any)
    stale = Move(TI.SUCCESS, TI.RUNNING, {"end_date": NOW}, {"try_token": "someone-else"})
    with db_any.transaction() as session:
        assert end_try(session, ti_id, TryRecord(TI.SUCCESS, None), stale) is None
    sql_guard = Move(TI.FAILED, TI.RUNNING, {"max_tries": TaskInstance.max_tries + 1}, where=[TaskInstance.pid == 8])
    with db_any.transaction() as session:
        assert end_try(session, ti_id, TryRecord(TI.FAILED, None), sql_guard) is None
    assert _history(db_any) == []
    with db_any.transaction() as session:
        assert session.get_one(TaskInstance, ti_id).state is TI.RUNNING


def test_sql_values_and_conditions_take_the_general_path(db_any: Database) -> None:
    ti_id = _running(db_any)
    move = Move(TI.UP_FOR_RETRY, TI.RUNNING, {"max_tries": TaskInstance.max_tries + 1}, where=[TaskInstance.pid == 7])
    with db_any.transaction() as session:
        assert end_try(session, ti_id, TryRecord(TI.UP_FOR_RETRY, "lost"), move) is not None
    with db_any.transaction() as session:
        assert session.get_one(TaskInstance, ti_id).max_tries == 1
    assert [h.reason for h in _history(db_any)] == ["lost"]


def test_an_unstarted_try_and_a_history_written_only_once(db_any: Database) -> None:
    add_run(db_any)
    ti_id = add_ti(db_any, "q").ti_id  # queued, try 0: try 1 never started
    move = Move(TI.FAILED, TI.QUEUED, {"end_date": NOW})
    with db_any.transaction() as session:
        end_try(session, ti_id, TryRecord(TI.FAILED, "stuck", try_number=1, started=False), move)
        again = TryRecord(TI.FAILED, "again", try_number=1, if_missing=True)
        assert end_try(session, ti_id, again) is None
    (history,) = _history(db_any)
    assert (history.try_number, history.start_date, history.hostname, history.reason) == (1, None, None, "stuck")
