"""The plan marker: written when the bumping transaction commits, never by a rolled-back one, hidden from listings."""

from __future__ import annotations

import pytest

from dagflow.db import Database
from dagflow.models import plan_marker
from dagflow.services import state_store


def _committed(db: Database) -> str:
    with db.transaction(readonly=True) as session:
        return plan_marker.read(session)


def test_the_marker_changes_at_the_commit_of_the_bumping_transaction(db_any: Database) -> None:
    before = _committed(db_any)
    with db_any.transaction() as session:
        plan_marker.bump(session)
        plan_marker.bump(session)  # once per transaction
        # Not yet written: the row's lock is taken last, just before the commit.
        assert plan_marker.read(session) == before
        assert _committed(db_any) == before
    first = _committed(db_any)
    assert first != before
    with db_any.transaction() as session:
        plan_marker.bump(session)
    assert _committed(db_any) not in (before, first)


def test_a_rolled_back_transaction_does_not_move_the_marker(db_any: Database) -> None:
    with db_any.transaction() as session:
        plan_marker.bump(session)
    before = _committed(db_any)
    with pytest.raises(RuntimeError), db_any.transaction() as session:
        plan_marker.bump(session)
        raise RuntimeError("rolled back")
    assert _committed(db_any) == before


def test_a_scheduler_session_does_not_bump(db_any: Database) -> None:
    before = _committed(db_any)
    with db_any.transaction() as session:
        plan_marker.scheduler_session(session)
        plan_marker.bump(session)
    assert _committed(db_any) == before


def test_the_marker_row_is_not_listed_with_the_users_entries(db_any: Database) -> None:
    state_store.set_value(db_any, "k", 1, namespace="mine")
    with db_any.transaction() as session:
        plan_marker.bump(session)
    assert [(r.namespace, r.key) for r in state_store.list_values(db_any)] == [("mine", "k")]
    assert [r.key for r in state_store.list_values(db_any, namespace=plan_marker.NAMESPACE)] == [plan_marker.KEY]
