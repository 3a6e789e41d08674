"""The supervisor keeps an outcome while the database is away, and refuses cleanly when it must."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dagflow.exceptions import DatabaseError
from dagflow.execution import supervised_try
from dagflow.execution.channel import ResultChannel
from dagflow.execution.claim import TIStatus
from dagflow.execution.outcome import TryResult
from dagflow.state import TaskInstanceState as TI

RESULT = TryResult(TI.SUCCESS, None, None)


def _attempt(timeout_s: float = 30.0) -> Any:
    claimed = SimpleNamespace(ti_id=7, task_id="t", token="tok")
    settings = SimpleNamespace(scheduler=SimpleNamespace(heartbeat_timeout=timeout_s))
    return SimpleNamespace(db=object(), claimed=claimed, settings=settings, task_pid=4242)


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervised_try, "RECORD_RETRY_FIRST_S", 0.0)
    monkeypatch.setattr(supervised_try.time, "sleep", lambda _s: None)


def _record_failing(times: int, then: bool) -> Any:
    calls = {"n": 0}

    def record(*_args: Any, **_kwargs: Any) -> bool:
        calls["n"] += 1
        if calls["n"] <= times:
            raise DatabaseError("cannot connect to the metadata database: gone")
        return then

    return record


def test_recording_is_retried_until_the_database_is_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervised_try, "record_result", _record_failing(3, then=True))
    assert supervised_try.record_while_db_returns(_attempt(), RESULT, None, None) is True


def test_a_commit_whose_answer_was_lost_counts_as_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervised_try, "record_result", _record_failing(1, then=False))
    monkeypatch.setattr(supervised_try.lease, "read_status", lambda _db, _id: TIStatus(TI.SUCCESS, 1, "tok", None))
    assert supervised_try.record_while_db_returns(_attempt(), RESULT, None, None) is True
    monkeypatch.setattr(supervised_try.lease, "read_status", lambda _db, _id: TIStatus(TI.FAILED, 1, "tok", None))
    assert supervised_try.record_while_db_returns(_attempt(), RESULT, None, None) is False  # a person marked it


def test_gives_up_after_the_heartbeat_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervised_try, "record_result", _record_failing(10**6, then=True))
    monkeypatch.setattr(supervised_try, "RECORD_RETRY_FIRST_S", 1.0)
    with pytest.raises(DatabaseError):
        supervised_try.record_while_db_returns(_attempt(timeout_s=0.5), RESULT, None, None)


def test_a_refused_answer_reads_as_none_in_the_task_process() -> None:
    channel = ResultChannel()
    channel.refuse()
    assert channel.wait_answer() is None
    channel.close()
