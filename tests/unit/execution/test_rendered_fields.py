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
from dagflow.services.rendered import rendered_fields
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
