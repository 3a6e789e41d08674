"""A scheduler whose shutdown hangs says where: every thread's stack on stderr."""

from __future__ import annotations

import time

import pytest

from dagflow.config import Settings
from dagflow.db import Database
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent
from dagflow.scheduler import process


class SlowToStopExecutor(BaseExecutor):
    """Runs nothing; its shutdown takes a while."""

    def submit(self, workload: TaskWorkload) -> None:
        raise AssertionError("nothing to run")

    def poll(self) -> list[TaskEvent]:
        return []

    def shutdown(self) -> None:
        time.sleep(0.6)


def test_a_slow_shutdown_prints_every_threads_stack(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(process, "SLOW_SHUTDOWN_STACKS_S", 0.2)
    process.run_scheduler(settings, db, folders=[], num_runs=1, executor=SlowToStopExecutor())
    err = capfd.readouterr().err
    assert "most recent call first" in err
    assert "in shutdown" in err  # the executor's shutdown, where it waited


def test_a_quick_shutdown_prints_nothing(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(process, "SLOW_SHUTDOWN_STACKS_S", 0.3)
    monkeypatch.setattr(SlowToStopExecutor, "shutdown", lambda self: None)
    process.run_scheduler(settings, db, folders=[], num_runs=1, executor=SlowToStopExecutor())
    time.sleep(0.6)  # past the deadline: the dump was cancelled when the shutdown ended
    assert "most recent call first" not in capfd.readouterr().err
