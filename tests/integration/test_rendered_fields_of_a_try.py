"""Real tries (forked, reused, in-process): each try's rendered template fields are stored once,
by the write that records its end (or by a heartbeat while it runs), whether it succeeds,
fails, is killed or is stopped after rendering. No mocks."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagflow.db import Database
from dagflow.execution.runner import retire_task_process
from dagflow.models.taskinstance import TaskInstance
from dagflow.models.transitions import set_ti_state
from dagflow.services.rendered import RenderedFields, rendered_fields
from dagflow.state import TaskInstanceState as TI
from tests.integration.test_runner import Harness


@pytest.fixture
def harness(db_any: Database, tmp_path: Path) -> Harness:
    return Harness(db_any, tmp_path)


def _rendered(harness: Harness, task_id: str) -> RenderedFields | None:
    return rendered_fields(harness.db, "runner_it", harness.run_id, task_id)


def _stored_with_the_end(harness: Harness, task_id: str, ti_id: int, expected: dict[str, object]) -> None:
    """The try's fields, written by the transaction that recorded its end (same timestamp),
    or before it by a heartbeat (the harness beats every 0.2 s; a slow host reaches one)."""
    found = _rendered(harness, task_id)
    assert found is not None
    assert (found.try_number, found.fields) == (1, expected)
    with harness.db.transaction() as session:
        end_date = session.scalar(sa.select(TaskInstance.end_date).where(TaskInstance.id == ti_id))
    assert found.updated_at is not None and end_date is not None and found.updated_at <= end_date


@pytest.mark.parametrize("fork", [True, False])
def test_a_successful_try_stores_them_with_its_record(harness: Harness, fork: bool) -> None:
    with_callback, without = harness.queue("ok"), harness.queue("quiet")
    assert harness.run(with_callback, fork=fork).state is TI.SUCCESS  # records while the process waits
    assert harness.run(without, fork=fork).state is TI.SUCCESS  # records after the process exited
    _stored_with_the_end(harness, "ok", with_callback.ti_id, {"arg": "2024-03-05"})
    _stored_with_the_end(harness, "quiet", without.ti_id, {"arg": "x"})


def test_written_once_per_try_by_the_worker_and_the_task_process_makes_no_database_call(
    harness: Harness, tmp_path: Path
) -> None:
    statements = tmp_path / "statements.txt"

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:  # forked task processes inherit it
        with statements.open("a") as fh:
            fh.write(f"{os.getpid()} {' '.join(statement.split())[:60]}\n")

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", note)
    try:
        assert harness.run(harness.queue("quiet")).state is TI.SUCCESS
        assert harness.run(harness.queue("boom")).state is TI.FAILED
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", note)
    lines = [line.split(" ", 1) for line in statements.read_text().splitlines()]
    assert {int(pid) for pid, _ in lines} == {os.getpid()}  # all from the worker (this process)
    assert sum(text.startswith("INSERT INTO rendered_task_instance_fields") for _, text in lines) == 2


def test_a_failed_try_stores_them_with_its_record(harness: Harness) -> None:
    workload = harness.queue("boom", max_tries=2)
    assert harness.run(workload).state is TI.UP_FOR_RETRY
    _stored_with_the_end(harness, "boom", workload.ti_id, {"arg": "2024-03-05"})


def test_a_try_killed_after_rendering_keeps_them(harness: Harness) -> None:
    workload = harness.queue("self_kill", max_tries=1)
    outcome = harness.run(workload)
    assert outcome.state is TI.UP_FOR_RETRY and "signal 9" in (outcome.reason or "")
    _stored_with_the_end(harness, "self_kill", workload.ti_id, {"arg": "2024-03-05"})


def test_a_reused_task_process_stores_each_tries_own(harness: Harness) -> None:
    first, second = harness.queue("quiet"), harness.queue("ok")
    try:
        assert harness.run(first, reuse_process=True).state is TI.SUCCESS
        assert harness.run(second, reuse_process=True).state is TI.SUCCESS
    finally:
        retire_task_process()
    _stored_with_the_end(harness, "quiet", first.ti_id, {"arg": "x"})
    _stored_with_the_end(harness, "ok", second.ti_id, {"arg": "2024-03-05"})


def test_a_long_try_shows_them_while_it_runs_and_keeps_them_when_stopped(harness: Harness) -> None:
    workload = harness.queue("long")
    seen_running: list[RenderedFields] = []

    def mark_failed_once_shown() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not seen_running:
            found = _rendered(harness, "long")
            if found is not None and harness.ti(workload.ti_id).state is TI.RUNNING:
                seen_running.append(found)
            time.sleep(0.05)
        with harness.db.transaction() as session:
            set_ti_state(session, [workload.ti_id], to=TI.FAILED, expected=[TI.RUNNING])

    person = threading.Thread(target=mark_failed_once_shown)
    person.start()
    outcome = harness.run(workload)
    person.join()
    assert outcome.state is TI.FAILED
    expected = {"arg": f"60.{harness.mark_num}"}
    assert [(f.try_number, f.fields) for f in seen_running] == [(1, expected)]  # a heartbeat wrote them
    found = _rendered(harness, "long")
    assert found is not None and (found.try_number, found.fields) == (1, expected)
    assert harness.processes() == []
