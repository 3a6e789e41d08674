"""Pieces of supervision that need no database: exit descriptions, the in-process time limit,
and killing a process tree that escaped its group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from dagflow.exceptions import TaskTimeout
from dagflow.execution.process_tree import ProcessTree, descendant_pids
from dagflow.execution.supervisor import ChildExit
from dagflow.execution.task_process import format_seconds, time_limit


def test_child_exit_descriptions() -> None:
    assert ChildExit(signal.SIGKILL).describe() == "task process exited with signal 9 (SIGKILL)"
    assert ChildExit(3 << 8).exit_code == 3
    assert "exit code 3" in ChildExit(3 << 8).describe()
    assert ChildExit(0, killed_for="timed out").describe() == "timed out"


def test_time_limit_raises_and_restores_an_outer_alarm() -> None:
    outer, _ = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's, if any
    previous = signal.signal(signal.SIGALRM, lambda *a: None)
    signal.setitimer(signal.ITIMER_REAL, 50)
    try:
        with pytest.raises(TaskTimeout, match="timed out after 0.2s"):
            with time_limit(0.2):
                time.sleep(5)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 45 < left <= 50
    finally:
        signal.signal(signal.SIGALRM, previous)
        signal.setitimer(signal.ITIMER_REAL, outer)
    assert format_seconds(2.0) == "2" and format_seconds(1.5) == "1.5"


def test_descendant_pids_walks_children_and_grandchildren_like_psutil() -> None:
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen(['sleep', '42.5']); subprocess.Popen(['sh', '-c', 'sleep 43.5; true']); "
        "time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        expected: set[int] = set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(expected) < 3:  # sleep, sh and sh's sleep
            expected = {p.pid for p in psutil.Process(parent.pid).children(recursive=True)}
            time.sleep(0.05)
        assert len(expected) == 3
        found = descendant_pids(parent.pid)
        if found is None:
            pytest.skip("this kernel has no /proc/<pid>/task/<tid>/children files (psutil is used)")
        assert set(found) == expected
        leaf = next(pid for pid in expected if not psutil.Process(pid).children())
        assert descendant_pids(leaf) == []
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait(5)


def test_process_tree_kills_descendants_that_left_the_group() -> None:
    script = "import subprocess, sys, time; subprocess.Popen(['sleep', '41.5'], start_new_session=True); time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    try:
        tree = ProcessTree(pgid=parent.pid)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not tree.seen:
            tree.snapshot(parent.pid)
            time.sleep(0.05)
        escaped = [psutil.Process(pid) for pid in tree.seen]
        assert escaped and all(os.getpgid(p.pid) != parent.pid for p in escaped)
        tree.terminate(grace_s=1.0)
        parent.wait(5)
        gone, alive = psutil.wait_procs(escaped, timeout=5)
        assert alive == []
        assert not tree.alive()
    finally:
        parent.kill()
