"""A try's rendered fields are written by a write the try makes anyway: its record, a heartbeat, its stop."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from dagflow.db import Database
from dagflow.execution.claim import heartbeat
from dagflow.execution.outcome import TryResult
from dagflow.execution.record import record_result, record_stopped
from dagflow.execution.rendered_fields import masked_rendered_fields
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.secrets.masker import SecretsMasker
from dagflow.services.rendered import RenderedFields, rendered_fields
from dagflow.state import TaskInstanceState as TI

from ._rows import add_run, claimed


def _end_date(db: Database) -> object:
    with db.transaction() as session:
        return session.scalar(sa.select(TaskInstance.end_date))


def test_written_with_the_record_and_replaced_by_the_next_try(db_any: Database) -> None:
    add_run(db_any)
    claim = claimed(db_any, "t")
    assert record_result(db_any, claim, TryResult(TI.UP_FOR_RETRY, "x"), rendered={"cmd": "echo 1"})
    with db_any.transaction() as session:
        session.execute(sa.update(TaskInstance).values(state=TI.RUNNING, try_number=2))
    second = replace(claim, try_number=2)
    assert record_result(db_any, second, TryResult(TI.SUCCESS), rendered={"cmd": "echo 2", "env": {"A": "b"}})
    found = rendered_fields(db_any, "d", "r", "t")
    assert found is not None
    assert (found.try_number, found.fields) == (2, {"cmd": "echo 2", "env": {"A": "b"}})
    assert found.updated_at == _end_date(db_any)  # one transaction: the record's


def test_a_try_taken_away_writes_neither_outcome_nor_rendered_fields(db_any: Database) -> None:
    add_run(db_any)
    claim = claimed(db_any, "t")
    with db_any.transaction() as session:
        set_ti_state(session, [claim.ti_id], to=TI.FAILED, expected=[TI.RUNNING])
    assert not record_result(db_any, claim, TryResult(TI.SUCCESS), rendered={"cmd": "echo 1"})
    assert rendered_fields(db_any, "d", "r", "t") is None
    assert not heartbeat(db_any, claim.ti_id, claim.token, rendered=(1, {"cmd": "echo 1"}))
    assert rendered_fields(db_any, "d", "r", "t") is None


def test_a_heartbeat_writes_them_while_the_try_runs(db_any: Database) -> None:
    add_run(db_any)
    claim = claimed(db_any, "t")
    assert heartbeat(db_any, claim.ti_id, claim.token, rendered=(claim.try_number, {"cmd": "echo 1"}))
    found = rendered_fields(db_any, "d", "r", "t")
    assert found is not None and (found.try_number, found.fields) == (1, {"cmd": "echo 1"})


def test_a_stopped_try_keeps_them(db_any: Database) -> None:
    add_run(db_any)
    claim = claimed(db_any, "t")
    with db_any.transaction() as session:
        set_ti_state(session, [claim.ti_id], to=TI.FAILED, expected=[TI.RUNNING])
    assert record_stopped(db_any, claim, "stopped", rendered={"cmd": "sleep 60"})
    found = rendered_fields(db_any, "d", "r", "t")
    assert found is not None and (found.try_number, found.fields) == (1, {"cmd": "sleep 60"})


def test_masked_where_rendered() -> None:
    class Task:
        template_fields = ("cmd", "env", "password")
        cmd = "echo s3cr3t-value"
        env = {"API_KEY": "abc", "HOME": "/home"}
        password = "hunter2"

    masker = SecretsMasker(["password", "api_key"])
    masker.add(["s3cr3t-value"])
    assert masked_rendered_fields(Task(), masker) == {
        "cmd": "echo ***",
        "env": {"API_KEY": "***", "HOME": "/home"},
        "password": "***",
    }


def test_the_first_try_of_a_task_without_template_fields_writes_no_row_and_reads_as_an_empty_one(
    db_any: Database,
) -> None:
    add_run(db_any)
    claim = claimed(db_any, "t")
    statements: list[str] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa.event.listen(db_any.engine, "before_cursor_execute", note)
    try:
        assert record_result(db_any, claim, TryResult(TI.UP_FOR_RETRY, "x"), rendered={})
    finally:
        sa.event.remove(db_any.engine, "before_cursor_execute", note)
    assert any(s.startswith("INSERT INTO task_instance_history") for s in statements)
    assert not any("rendered_task_instance_fields" in s for s in statements)
    assert rendered_fields(db_any, "d", "r", "t") is None  # no row
    # what the task page shows: the try rendered nothing (as the empty row said before)...
    assert rendered_fields(db_any, "d", "r", "t", template_fields=()) == RenderedFields(1, {}, None)
    # ...while a task with template fields and no row yet has not rendered them yet
    assert rendered_fields(db_any, "d", "r", "t", template_fields=("cmd",)) is None
    assert rendered_fields(db_any, "d", "r", "other", template_fields=()) is None  # no such task instance


def test_a_later_try_without_template_fields_replaces_an_earlier_tries_row(db_any: Database) -> None:
    add_run(db_any)
    claim = claimed(db_any, "t")
    assert record_result(db_any, claim, TryResult(TI.UP_FOR_RETRY, "x"), rendered={"cmd": "echo 1"})
    with db_any.transaction() as session:
        session.execute(sa.update(TaskInstance).values(state=TI.RUNNING, try_number=2))
    assert record_result(db_any, replace(claim, try_number=2), TryResult(TI.SUCCESS), rendered={})
    found = rendered_fields(db_any, "d", "r", "t", template_fields=())
    assert found is not None and (found.try_number, found.fields) == (2, {})
