"""``fork_gate``: in a worker with several lanes, a fork by one lane waits until no other
lane holds a database connection or the DAG cache (a child forked while another thread
is inside SQLite, or importing a DAG file under the cache's lock, hangs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter: the gate registers fork hooks for the rest of the process.
SCRIPT = """
import os, sys, threading, time
import sqlalchemy as sa
from sqlalchemy import event
from dagflow.fork_gate import FORK_GATE

engine = sa.create_engine("sqlite:///" + sys.argv[1])
if sys.argv[2] == "gate":
    FORK_GATE.enable()
    FORK_GATE.watch_engine(engine)
order = []
event.listen(engine, "checkin", lambda *a: order.append("checkin"))
inside = threading.Event()

def lane():
    with engine.connect() as connection:
        connection.execute(sa.text("select 1"))
        inside.set()
        time.sleep(2)

thread = threading.Thread(target=lane)
thread.start()
inside.wait()
pid = os.fork()
if pid == 0:
    os._exit(0)
order.append("forked")
os.waitpid(pid, 0)
thread.join()
print(",".join(order))
"""


@pytest.mark.parametrize(("mode", "expected"), [("gate", "checkin,forked"), ("none", "forked,checkin")])
def test_a_fork_waits_for_the_connection_another_lane_holds(tmp_path: Path, mode: str, expected: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path / "x.db"), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == expected, done.stderr


# One lane imports a (slow) DAG file through the worker's cache while another lane forks a
# task process; the task process (reused: it keeps the cache) then loads its next DAG.
CACHE_SCRIPT = """
import os, signal, sys, threading, time
from dagflow.execution.dag_cache import DagCache
from dagflow.fork_gate import FORK_GATE

slow, quick, mode = sys.argv[1:4]
if mode == "gate":
    FORK_GATE.enable()
cache = DagCache()
importing = threading.Thread(target=cache.get_dags, args=(slow,))
importing.start()
while not os.path.exists(slow + ".started"):
    time.sleep(0.01)
pid = os.fork()
if pid == 0:
    signal.alarm(20)  # a child that hangs on the cache's lock dies of SIGALRM
    cache.get_dags(quick)
    os._exit(0)
_, status = os.waitpid(pid, 0)
importing.join()
print("ok" if os.waitstatus_to_exitcode(status) == 0 else "hung")
"""

SLOW_DAG = """
import pathlib, time
pathlib.Path(__file__ + ".started").touch()
time.sleep(2)
from dagflow.sdk import DAG
dag = DAG("slow")
"""


@pytest.mark.parametrize(("mode", "expected"), [("gate", "ok"), ("none", "hung")])
def test_a_task_process_forked_while_another_lane_imports_a_dag_file_does_not_hang(
    tmp_path: Path, mode: str, expected: str
) -> None:
    slow = tmp_path / "slow_dag.py"
    slow.write_text(SLOW_DAG)
    quick = tmp_path / "quick_dag.py"
    quick.write_text('from dagflow.sdk import DAG\ndag = DAG("quick")\n')
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CACHE_SCRIPT), str(slow), str(quick), mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == expected, done.stderr
