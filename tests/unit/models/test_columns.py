"""dagflow's column types: UTC datetimes, JSON text, NULL-aware task-instance states."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pendulum
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError

from dagflow.db import Database
from dagflow.models import DagModel, DagRun, StateStoreEntry, TaskInstance
from dagflow.state import FINISHED, UNFINISHED, TaskInstanceState
from tests.unit.models._factories import add_run, add_tis

TI = TaskInstanceState


def test_datetimes_come_back_aware_utc_pendulum(db_any: Database) -> None:
    paris = pendulum.datetime(2024, 7, 1, 12, 30, 15, 123456, tz="Europe/Paris")
    plain_aware = datetime(2024, 7, 1, 5, 0, tzinfo=timezone(timedelta(hours=-5)))
    with db_any.transaction() as session:
        run = DagRun(dag_id="d", run_id="r", logical_date=paris, start_date=plain_aware)
        session.add(run)
    with db_any.transaction() as session:
        loaded = session.scalars(sa.select(DagRun)).one()
    assert isinstance(loaded.logical_date, pendulum.DateTime)
    assert loaded.logical_date.tzinfo is not None and loaded.logical_date.utcoffset() == timedelta(0)
    assert loaded.logical_date == paris and loaded.logical_date.hour == 10
    assert loaded.logical_date.microsecond == 123456
    assert loaded.start_date == plain_aware and loaded.start_date.hour == 10
    assert loaded.updated_at is not None and loaded.updated_at.utcoffset() == timedelta(0)


def test_datetime_comparisons_in_sql_use_utc(db_any: Database) -> None:
    with db_any.transaction() as session:
        session.add(DagRun(dag_id="d", run_id="r", logical_date=pendulum.datetime(2024, 1, 1, 12, tz="UTC")))
    just_before = pendulum.datetime(2024, 1, 1, 12, 59, tz="Europe/Paris")  # 11:59 UTC
    with db_any.transaction() as session:
        found = session.scalars(sa.select(DagRun.run_id).where(DagRun.logical_date > just_before)).all()
    assert found == ["r"]


def test_naive_datetime_is_refused(db: Database) -> None:
    with pytest.raises(StatementError, match="naive datetime"), db.transaction() as session:
        session.add(DagRun(dag_id="d", run_id="r", logical_date=datetime(2024, 1, 1)))
        session.flush()


def test_json_columns_round_trip(db_any: Database) -> None:
    value = {"a": [1, 2.5, None, True], "nested": {"ü": "ß"}, "empty": []}
    with db_any.transaction() as session:
        session.add(DagModel(dag_id="d", tags=["etl", "daily"]))
        session.add(StateStoreEntry(namespace="ns", key="k", value=value))
        session.add(StateStoreEntry(namespace="ns", key="scalar", value=3))
        session.add(StateStoreEntry(namespace="ns", key="none", value=None))
    with db_any.transaction() as session:
        assert session.get_one(DagModel, "d").tags == ["etl", "daily"]
        assert session.get_one(StateStoreEntry, ("ns", "k")).value == value
        assert session.get_one(StateStoreEntry, ("ns", "scalar")).value == 3
        assert session.get_one(StateStoreEntry, ("ns", "none")).value is None


def test_json_refuses_values_it_cannot_hold(db: Database) -> None:
    with pytest.raises(StatementError), db.transaction() as session:
        session.add(StateStoreEntry(namespace="ns", key="k", value={"when": object()}))
        session.flush()


def test_new_objects_have_their_defaults_before_flush() -> None:
    ti = TaskInstance(dag_id="d", run_id="r", task_id="t")
    assert (ti.state, ti.map_index, ti.try_number, ti.pool, ti.queue, ti.pool_slots) == (
        TI.NONE,
        -1,
        0,
        "default_pool",
        "default",
        1,
    )
    assert ti.note is None
    with pytest.raises(TypeError, match="no_such_column"):
        TaskInstance(no_such_column=1)


def test_none_state_is_stored_as_null(db_any: Database) -> None:
    with db_any.transaction() as session:
        (ti,) = add_tis(session, add_run(session))
    with db_any.engine.connect() as connection:
        raw = connection.execute(sa.text("SELECT state FROM task_instance WHERE id = :i"), {"i": ti.id})
        assert raw.scalar_one() is None


def test_state_comparisons_treat_none_as_null(db_any: Database) -> None:
    with db_any.transaction() as session:
        run = add_run(session)
        ids = {
            state: add_tis(session, add_run(session) if i else run, state=state)[0].id
            for i, state in enumerate([TI.NONE, TI.SCHEDULED, TI.SUCCESS, TI.FAILED])
        }

    def matching(clause: sa.ColumnElement[bool]) -> set[TaskInstanceState]:
        with db_any.transaction() as session:
            rows = session.execute(sa.select(TaskInstance.id).where(clause)).scalars().all()
        return {state for state, ti_id in ids.items() if ti_id in rows}

    col = TaskInstance.state
    assert matching(col == TI.NONE) == {TI.NONE}
    assert matching(col.is_(None)) == {TI.NONE}
    assert matching(col == TI.SUCCESS) == {TI.SUCCESS}
    assert matching(col != TI.SUCCESS) == {TI.NONE, TI.SCHEDULED, TI.FAILED}
    assert matching(col != TI.NONE) == {TI.SCHEDULED, TI.SUCCESS, TI.FAILED}
    assert matching(col.in_(UNFINISHED)) == {TI.NONE, TI.SCHEDULED}
    assert matching(col.in_([TI.NONE])) == {TI.NONE}
    assert matching(col.in_(FINISHED)) == {TI.SUCCESS, TI.FAILED}
    assert matching(col.not_in(FINISHED)) == {TI.NONE, TI.SCHEDULED}
    assert matching(col.not_in([TI.NONE, TI.FAILED])) == {TI.SCHEDULED, TI.SUCCESS}
    assert matching(col.in_(["success", "failed"])) == {TI.SUCCESS, TI.FAILED}


def test_unknown_state_string_is_refused(db: Database) -> None:
    with pytest.raises(StatementError), db.transaction() as session:
        session.execute(sa.select(TaskInstance).where(TaskInstance.state == "sucess"))
