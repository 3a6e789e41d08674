"""``ForkGate``: in a worker with several lanes, a fork waits until no other lane holds a
database connection (a child forked while another thread is inside SQLite hangs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Run in a fresh interpreter: the gate registers fork hooks for the rest of the process.
SCRIPT = """
import os, sys, threading, time, types
import sqlalchemy as sa
from sqlalchemy import event
from dagflow.execution.local_worker import ForkGate

engine = sa.create_engine("sqlite:///" + sys.argv[1])
if sys.argv[2] == "gate":
    ForkGate().install(types.SimpleNamespace(engine=engine))
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
