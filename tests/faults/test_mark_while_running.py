"""A task marked failed by hand while it runs: its process tree is gone within a heartbeat.

Real ``dagflow scheduler`` (LocalExecutor, SQLite). The task starts ``sleep 300`` as a
child process and sleeps itself; ``dagflow tasks mark ... --state failed`` from another
process must make the worker's supervisor notice on its next heartbeat (0.5 s here),
kill the task process and its child, and leave the person's ``failed`` in place.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults.cluster import Cluster, pid_alive, wait_for

pytestmark = pytest.mark.slow

DAG = """
def sleeper(ti):
    record("start", ti)
    child = subprocess.Popen(["sleep", "300"])
    write_pid("child", child.pid)
    write_pid("task", os.getpid())
    time.sleep(300)
    record("done", ti)


def quick(ti):
    record("start", ti)
    record("done", ti)


with DAG("mark_while_running", schedule=None, max_active_tasks=4):
    PythonOperator(task_id="sleeper", python_callable=sleeper, retries=2)
    PythonOperator(task_id="quick", python_callable=quick)
"""
#: The supervisor's heartbeat (FAST_SETTINGS) plus SIGTERM grace (killed_task_cleanup_time)
#: plus slack for a loaded 2-core CI machine.
GONE_WITHIN_S = 0.5 + 2 + 6


def test_marked_failed_while_running_kills_the_process_tree_and_stays_failed(tmp_path: Path) -> None:
    with Cluster(tmp_path, DAG, env={"DAGFLOW__CORE__PARALLELISM": "2"}) as cluster:
        cluster.start_scheduler()
        cluster.wait_parsed("mark_while_running")
        cluster.trigger("mark_while_running", "r1")
        child, task = cluster.wait_pid("child"), cluster.wait_pid("task")
        assert pid_alive(child) and pid_alive(task)

        marked_at = time.monotonic()
        cluster.ok("tasks", "mark", "mark_while_running", "r1", "sleeper", "--state", "failed")
        committed_at = time.monotonic()  # the CLI returned: the mark is committed
        wait_for(
            lambda: not pid_alive(child) and not pid_alive(task),
            "task process and child gone",
            GONE_WITHIN_S,
            interval=0.05,
        )
        now = time.monotonic()
        print(
            f"task process tree gone {now - committed_at:.2f}s after the mark committed "
            f"({now - marked_at:.2f}s after the CLI started)"
        )

        states = cluster.wait_runs_finished("mark_while_running", ["r1"], seconds=60)
        time.sleep(2)  # a few more scheduler ticks and heartbeats: nothing may undo the mark
        sleeper = cluster.ti("mark_while_running", "r1", "sleeper")
        tis = cluster.check_exactly_once("mark_while_running", expected_tis=2, states=frozenset({"success", "failed"}))
        history = [(h.task_id, h.try_number, h.reason) for h in cluster.history("mark_while_running")]
        assert cluster.stop("scheduler") == 0, cluster.log_tail("scheduler")

    assert states == {"r1": "failed"}
    assert {t.task_id: t.state.value for t in tis} == {"sleeper": "failed", "quick": "success"}
    assert sleeper.try_number == 1  # retries=2, yet no retry: a person's failed stands
    assert [e.task_id for e in cluster.executions("start")].count("sleeper") == 1
    assert ("sleeper", 1, "stopped: the task instance was set to failed while it ran") in history
