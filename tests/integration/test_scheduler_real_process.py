"""Scheduling decisions made by a real ``dagflow scheduler`` process (SQLite, LocalExecutor).

Each test writes its DAG file to its own folder, migrates its own ``DAGFLOW_HOME``,
starts the scheduler as a subprocess (stopped in ``finally``) and checks what it did
through the CLI (``dags list-runs --output json``) or through files the tasks wrote:
catchup on and off, cron runs across a DST change, pool + priority order under
contention, and ``max_active_runs=1``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dagflow.timetables import create_timetable

UTC = UTC
HEADER = """
import pathlib, time
from datetime import datetime, timedelta, timezone
import pendulum
from dagflow import DAG
from dagflow.operators import EmptyOperator, PythonOperator
"""


class Home:
    """One DAGFLOW_HOME + DAG folder, and the ``dagflow`` command pointed at them."""

    def __init__(self, root: Path, dag_source: str) -> None:
        self.root = root
        self.out = root / "out"
        dags, home = root / "dags", root / "home"
        for folder in (dags, home, self.out):
            folder.mkdir()
        (dags / "dags.py").write_text(HEADER + textwrap.dedent(dag_source).replace("OUT_DIR", repr(str(self.out))))
        self.env = dict(os.environ)
        self.env.update(
            {
                "DAGFLOW_HOME": str(home),
                "DAGFLOW__CORE__DAGS_FOLDER": str(dags),
                "DAGFLOW__CORE__LOAD_EXAMPLES": "false",
                "DAGFLOW__CORE__EXECUTOR": "LocalExecutor",
                "DAGFLOW__CORE__PARALLELISM": "4",
                "DAGFLOW__SCHEDULER__POLL_INTERVAL": "0.2",
            }
        )
        self.ok("db", "migrate")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the real ``dagflow`` command."""
        return subprocess.run(
            [sys.executable, "-m", "dagflow", *args], env=self.env, capture_output=True, text=True, timeout=60
        )

    def ok(self, *args: str) -> str:
        """Run ``dagflow`` and require exit 0; its stdout."""
        proc = self.cli(*args)
        assert proc.returncode == 0, f"dagflow {' '.join(args)}: {proc.stderr[-2000:]}"
        return proc.stdout

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's runs, oldest logical date first."""
        return sorted(
            json.loads(self.ok("dags", "list-runs", dag_id, "--output", "json")), key=lambda r: r["logical_date"]
        )

    @contextmanager
    def scheduler(self) -> Iterator[subprocess.Popen[bytes]]:
        """A ``dagflow scheduler`` subprocess for the duration of the block (always stopped)."""
        log = self.root / "scheduler.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagflow", "scheduler"],
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGUSR1)  # every process of the group prints its stacks
                time.sleep(1)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                raise AssertionError(
                    f"the scheduler did not stop within 30 s of SIGTERM:\n{log.read_text()[-8000:]}"
                ) from None
            assert code == 0, log.read_text()[-2000:]

    def wait_parsed(self, dag_id: str) -> None:
        """Until the scheduler's DAG processor has stored ``dag_id``."""
        wait_for(
            lambda: (
                dag_id
                in {d["dag_id"] for d in json.loads(self.ok("dags", "list", "--no-parse", "--output", "json") or "[]")}
            ),
            f"{dag_id} parsed",
        )

    def wait_runs_finished(self, dag_id: str, count: int) -> list[dict[str, Any]]:
        """Until ``count`` runs exist and all of them finished; those runs."""
        found: list[dict[str, Any]] = []

        def done() -> bool:
            nonlocal found
            found = self.runs(dag_id)
            return len(found) >= count and all(r["state"] in ("success", "failed") for r in found)

        wait_for(done, f"{count} finished runs of {dag_id}", describe=lambda: found)
        return found


def wait_for(
    condition: Callable[[], bool], what: str, seconds: float = 45, describe: Callable[[], object] | None = None
) -> None:
    """Poll ``condition`` until true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}: {describe() if describe else ''}")


def intervals(runs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(data_interval_start, data_interval_end) of each run, as the CLI prints them (UTC)."""
    return [(r["data_interval_start"], r["data_interval_end"]) for r in runs]


def utc(*args: int) -> str:
    """An ISO-8601 UTC timestamp as the CLI prints it."""
    return datetime(*args, tzinfo=UTC).isoformat()


# --- catchup ----------------------------------------------------------------------------------
CATCHUP_DAGS = """
with DAG("catchup_on", schedule="@daily", start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),
         end_date=datetime(2026, 1, 4, tzinfo=timezone.utc), catchup=True):
    EmptyOperator(task_id="a")

with DAG("catchup_off", schedule="@daily", start_date=pendulum.today("UTC").subtract(days=3),
         catchup=False):
    EmptyOperator(task_id="a")
"""


def test_catchup_on_runs_every_interval_and_off_only_the_latest(tmp_path: Path) -> None:
    home = Home(tmp_path, CATCHUP_DAGS)
    with home.scheduler():
        for dag_id in ("catchup_on", "catchup_off"):
            home.wait_parsed(dag_id)
            home.ok("dags", "unpause", dag_id)
        on = home.wait_runs_finished("catchup_on", 4)
        off = home.wait_runs_finished("catchup_off", 1)
        time.sleep(1.0)  # a few more ticks: nothing else may appear
        assert len(home.runs("catchup_on")) == 4 and len(home.runs("catchup_off")) == 1
    assert intervals(on) == [(utc(2026, 1, d), utc(2026, 1, d + 1)) for d in range(1, 5)]
    assert {(r["run_type"], r["state"]) for r in on} == {("scheduled", "success")}
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if intervals(off)[0][1] != today.isoformat():  # midnight UTC passed during the test
        today -= timedelta(days=1)
    assert intervals(off) == [((today - timedelta(days=1)).isoformat(), today.isoformat())]
    assert off[0]["run_type"] == "scheduled" and off[0]["state"] == "success"


# --- cron across a DST change -----------------------------------------------------------------
DST_DAG = """
AMS = "Europe/Amsterdam"
with DAG("dst_cron", schedule="30 1 * * *", start_date=pendulum.datetime(2026, 10, 23, tz=AMS),
         end_date=pendulum.datetime(2026, 10, 27, tz=AMS), catchup=True):
    EmptyOperator(task_id="a")
"""


def test_cron_in_amsterdam_across_the_end_of_summer_time(tmp_path: Path) -> None:
    if datetime.now(UTC) < datetime(2026, 10, 28, tzinfo=UTC):
        pytest.skip("the intervals around 2026-10-25 are not all in the past yet")
    home = Home(tmp_path, DST_DAG)
    with home.scheduler():
        home.wait_parsed("dst_cron")
        home.ok("dags", "unpause", "dst_cron")
        runs = home.wait_runs_finished("dst_cron", 4)
        time.sleep(1.0)
        assert len(home.runs("dst_cron")) == 4
    expected = [  # 01:30 Amsterdam: CEST (UTC+2) until 2026-10-25 03:00, then CET (UTC+1)
        (utc(2026, 10, 22, 23, 30), utc(2026, 10, 23, 23, 30)),
        (utc(2026, 10, 23, 23, 30), utc(2026, 10, 24, 23, 30)),
        (utc(2026, 10, 24, 23, 30), utc(2026, 10, 26, 0, 30)),  # the 25-hour day
        (utc(2026, 10, 26, 0, 30), utc(2026, 10, 27, 0, 30)),
    ]
    assert intervals(runs) == expected
    assert [r["logical_date"] for r in runs] == [start for start, _ in expected]
    assert {r["state"] for r in runs} == {"success"}
    timetable = create_timetable("30 1 * * *", "Europe/Amsterdam")
    cross_check = timetable.iter_intervals(
        datetime(2026, 10, 22, 22, tzinfo=UTC), datetime(2026, 10, 26, 23, tzinfo=UTC)
    )
    assert [(i.start.isoformat(), i.end.isoformat()) for i in cross_check] == expected


# --- pools and priorities ---------------------------------------------------------------------
POOL_DAG = """
OUT = pathlib.Path(OUT_DIR) / "order.txt"

def record(task_id):
    with OUT.open("a") as f:
        f.write(f"{task_id} {time.time()}\\n")
    time.sleep(0.2)

with DAG("pooled", schedule=None, max_active_tasks=4):
    for name, weight in [("w2", 2), ("w9", 9), ("w1", 1), ("w5", 5)]:
        PythonOperator(task_id=name, python_callable=record, op_args=[name], pool="one",
                       priority_weight=weight, weight_rule="absolute")
"""


def test_pool_of_one_slot_runs_tasks_by_priority(tmp_path: Path) -> None:
    home = Home(tmp_path, POOL_DAG)
    home.ok("pools", "set", "one", "1", "one at a time")
    with home.scheduler():
        home.wait_parsed("pooled")
        home.ok("dags", "unpause", "pooled")
        home.ok("dags", "trigger", "pooled")
        (run,) = home.wait_runs_finished("pooled", 1)
    assert run["state"] == "success"
    lines = [line.split() for line in (home.out / "order.txt").read_text().splitlines()]
    assert [task_id for task_id, _ in lines] == ["w9", "w5", "w2", "w1"]
    stamps = [float(t) for _, t in lines]
    assert all(later - earlier >= 0.2 for earlier, later in zip(stamps, stamps[1:]))  # one slot: never together


# --- max_active_runs --------------------------------------------------------------------------
MAX_RUNS_DAG = """
OUT = pathlib.Path(OUT_DIR)

def nap(run_id, task_id):
    start = time.time()
    time.sleep(0.5)
    (OUT / f"{run_id}.{task_id}").write_text(f"{start} {time.time()}")

with DAG("one_at_a_time", schedule=None, max_active_runs=1, max_active_tasks=4):
    PythonOperator(task_id="first", python_callable=nap, op_args=["{{ run_id }}", "first"]) >> \\
        PythonOperator(task_id="second", python_callable=nap, op_args=["{{ run_id }}", "second"])
"""


def test_max_active_runs_one_never_overlaps_runs(tmp_path: Path) -> None:
    home = Home(tmp_path, MAX_RUNS_DAG)
    with home.scheduler():
        home.wait_parsed("one_at_a_time")
        home.ok("dags", "unpause", "one_at_a_time")
        for day in (1, 2, 3):
            home.ok(
                "dags",
                "trigger",
                "one_at_a_time",
                "--logical-date",
                f"2026-01-0{day}T00:00:00+00:00",
                "--run-id",
                f"r{day}",
            )
        runs = home.wait_runs_finished("one_at_a_time", 3)
    assert [(r["run_id"], r["state"]) for r in runs] == [("r1", "success"), ("r2", "success"), ("r3", "success")]
    spans: list[tuple[float, float, str]] = []
    for run_id in ("r1", "r2", "r3"):
        times = [tuple(map(float, (home.out / f"{run_id}.{t}").read_text().split())) for t in ("first", "second")]
        spans.append((min(s for s, _ in times), max(e for _, e in times), run_id))
    spans.sort()
    assert [run_id for _, _, run_id in spans] == ["r1", "r2", "r3"]  # oldest logical date first
    for (_, end, earlier), (start, _, later) in zip(spans, spans[1:]):
        assert end <= start, f"{earlier} and {later} overlap"
