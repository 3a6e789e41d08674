"""Every state change goes through the compare-and-set functions and the transition table."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.exceptions import InvalidTransition
from dagflow.models import DagRun, TaskInstance
from dagflow.models.transitions import (
    CHUNK_SIZE,
    set_dagrun_state,
    set_ti_state,
    set_ti_state_where,
)
from dagflow.state import ALLOWED, DAGRUN_ALLOWED, DagRunState, TaskInstanceState
from tests.unit.models._factories import add_run, add_tis

TI = TaskInstanceState

ALLOWED_PAIRS = [(old, new) for old, targets in ALLOWED.items() for new in sorted(targets, key=str)]
FORBIDDEN_PAIRS = [
    (TI.NONE, TI.RUNNING),
    (TI.NONE, TI.QUEUED),
    (TI.SCHEDULED, TI.RUNNING),
    (TI.SUCCESS, TI.RUNNING),
    (TI.FAILED, TI.QUEUED),
    (TI.REMOVED, TI.SUCCESS),
    (TI.UP_FOR_RETRY, TI.RUNNING),
    (TI.SKIPPED, TI.SCHEDULED),
    (TI.RUNNING, TI.NONE),
    (TI.RUNNING, TI.RUNNING),
]
DAGRUN_PAIRS = [(old, new) for old, targets in DAGRUN_ALLOWED.items() for new in sorted(targets, key=str)]


def _state(db: Database, ti_id: int) -> TaskInstanceState:
    with db.transaction() as session:
        return session.get_one(TaskInstance, ti_id).state


@pytest.mark.parametrize(("old", "new"), ALLOWED_PAIRS, ids=[f"{o}->{n}" for o, n in ALLOWED_PAIRS])
def test_every_allowed_transition_moves_the_row(db_any: Database, old: TI, new: TI) -> None:
    with db_any.transaction() as session:
        (ti,) = add_tis(session, add_run(session), state=old)
        assert set_ti_state(session, [ti.id], to=new, expected=[old]) == 1
        assert ti.state is new  # the session's copy follows the UPDATE
    assert _state(db_any, ti.id) is new


@pytest.mark.parametrize(("old", "new"), FORBIDDEN_PAIRS, ids=[f"{o}->{n}" for o, n in FORBIDDEN_PAIRS])
def test_forbidden_transition_raises_and_changes_nothing(db: Database, old: TI, new: TI) -> None:
    with db.transaction() as session:
        (ti,) = add_tis(session, add_run(session), state=old)
    with db.transaction() as session, pytest.raises(InvalidTransition, match=f"{old.value} -> {new.value}"):
        set_ti_state(session, [ti.id], to=new, expected=[old])
    assert _state(db, ti.id) is old


def test_one_forbidden_pair_among_expected_refuses_the_whole_call(db: Database) -> None:
    with db.transaction() as session:
        (ti,) = add_tis(session, add_run(session), state=TI.QUEUED)
        with pytest.raises(InvalidTransition):
            set_ti_state(session, [ti.id], to=TI.RUNNING, expected=[TI.QUEUED, TI.SCHEDULED])
    assert _state(db, ti.id) is TI.QUEUED


def test_wrong_expected_state_updates_nothing(db_any: Database) -> None:
    with db_any.transaction() as session:
        (ti,) = add_tis(session, add_run(session), state=TI.RUNNING)
        assert set_ti_state(session, [ti.id], to=TI.RUNNING, expected=[TI.QUEUED]) == 0
        assert set_ti_state(session, [ti.id], to=TI.SCHEDULED, expected=TI.NONE) == 0
    assert _state(db_any, ti.id) is TI.RUNNING


def test_only_rows_in_expected_states_move(db_any: Database) -> None:
    with db_any.transaction() as session:
        run = add_run(session)
        fresh = add_tis(session, run, 3)
        (done,) = add_tis(session, add_run(session), state=TI.SUCCESS)
        moved = set_ti_state(session, [t.id for t in [*fresh, done]], to=TI.SCHEDULED, expected=[TI.NONE])
    assert moved == 3
    assert [_state(db_any, t.id) for t in fresh] == [TI.SCHEDULED] * 3
    assert _state(db_any, done.id) is TI.SUCCESS


def test_values_and_extra_where_go_into_the_same_update(db_any: Database) -> None:
    with db_any.transaction() as session:
        (ti,) = add_tis(session, add_run(session), state=TI.QUEUED)
        claim = {"try_number": TaskInstance.try_number + 1, "hostname": "h1", "pid": 42}
        lost = set_ti_state(
            session,
            [ti.id],
            to=TI.RUNNING,
            expected=[TI.QUEUED],
            values=claim,
            extra_where=TaskInstance.try_number == 5,
        )
        won = set_ti_state(
            session,
            [ti.id],
            to=TI.RUNNING,
            expected=[TI.QUEUED],
            values=claim,
            extra_where=[TaskInstance.try_number == 0],
        )
    assert (lost, won) == (0, 1)
    with db_any.transaction() as session:
        row = session.get_one(TaskInstance, ti.id)
        assert (row.state, row.try_number, row.hostname, row.pid) == (TI.RUNNING, 1, "h1", 42)


def test_values_may_not_set_state_or_keys(db: Database) -> None:
    with db.transaction() as session, pytest.raises(ValueError, match="state"):
        set_ti_state(session, [1], to=TI.SCHEDULED, expected=[TI.NONE], values={"state": "queued"})


def test_large_id_lists_are_chunked(db: Database) -> None:
    with db.transaction() as session:
        tis = add_tis(session, add_run(session), CHUNK_SIZE * 2 + 7)
        assert set_ti_state(session, [t.id for t in tis], to=TI.SCHEDULED, expected=[TI.NONE]) == len(tis)


def test_set_ti_state_where_moves_a_whole_run(db_any: Database) -> None:
    with db_any.transaction() as session:
        run, other = add_run(session), add_run(session)
        add_tis(session, run, 4)
        add_tis(session, other, 2)
        moved = set_ti_state_where(
            session,
            to=TI.SKIPPED,
            expected=[TI.NONE, TI.SCHEDULED],
            where=[TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id],
        )
    assert moved == 4
    with db_any.transaction() as session:
        states = session.execute(sa.select(TaskInstance.run_id, TaskInstance.state)).all()
    assert sorted((r, str(s)) for r, s in states) == sorted(
        [(run.run_id, "skipped")] * 4 + [(other.run_id, "none")] * 2
    )


def test_set_ti_state_where_refuses_forbidden_and_empty_where(db: Database) -> None:
    with db.transaction() as session:
        with pytest.raises(InvalidTransition):
            set_ti_state_where(session, to=TI.RUNNING, expected=[TI.NONE], where=TaskInstance.id > 0)
        with pytest.raises(ValueError):
            set_ti_state_where(session, to=TI.SCHEDULED, expected=[TI.NONE], where=[])


@pytest.mark.parametrize(("old", "new"), DAGRUN_PAIRS, ids=[f"{o}->{n}" for o, n in DAGRUN_PAIRS])
def test_every_allowed_dagrun_transition(db_any: Database, old: DagRunState, new: DagRunState) -> None:
    with db_any.transaction() as session:
        run = add_run(session)
        run.state = old  # a fixture: set on the fresh row before any transition
        session.flush()
        assert set_dagrun_state(session, run.id, to=new, expected=[old]) is True
    with db_any.transaction() as session:
        assert session.get_one(DagRun, run.id).state is new


def test_dagrun_cas_and_forbidden(db: Database) -> None:
    with db.transaction() as session:
        run = add_run(session)  # queued
        assert set_dagrun_state(session, run.id, to=DagRunState.SUCCESS, expected=DagRunState.RUNNING) is False
        with pytest.raises(InvalidTransition, match="queued -> queued"):
            set_dagrun_state(session, run.id, to=DagRunState.QUEUED, expected=[DagRunState.QUEUED])
        assert set_dagrun_state(
            session,
            run.id,
            to=DagRunState.RUNNING,
            expected=[DagRunState.QUEUED],
            values={"start_date": run.logical_date},
        )
        assert run.state is DagRunState.RUNNING and run.start_date == run.logical_date
