"""The benchmark runner still works: ``python -m benchmarks --quick --repeat 1``.

Runs the smoke sizes (chain10, fanout50, parse10) through the real processes and
checks the JSON rows and that every number is positive. No timing assertions: the
numbers depend on the machine and on whatever else runs on it. The Celery row runs
when ``dagflow celery worker`` exists and PostgreSQL and Redis are up; otherwise the
runner must report it unavailable with a reason (and, with
``DAGFLOW_REQUIRE_SERVICES=1``, a missing service fails the test). The runner empties
its broker database before and after a run, so the test points it
(``DAGFLOW_BENCH_REDIS_URL``) at a throwaway Redis of its own, never the shared one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import configs
from tests.servers import RedisServer

REPO = Path(__file__).resolve().parents[2]
QUICK = {"chain10": "chain", "fanout50": "fanout", "parse10": "parse"}
METRICS = {
    "chain": ("seconds", "ms_per_task", "scheduler_rss_mb", "workers_rss_mb"),
    "fanout": ("seconds", "tasks_per_s", "scheduler_rss_mb", "workers_rss_mb"),
    "parse": ("cold_seconds", "rescan_seconds", "scheduler_rss_mb"),
}


def _run(tmp_path: Path, config: str) -> dict:
    out = tmp_path / f"{config}.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--repeat",
            "1",
            "--configs",
            config,
            "--json",
            str(out),
            "--timeout",
            "180",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())


def _check_rows(document: dict, config: str) -> None:
    rows = {row["workload"]: row for row in document["rows"] if row["config"] == config}
    assert set(rows) == set(QUICK)
    for name, kind in QUICK.items():
        row = rows[name]
        assert row["available"] and row["errors"] == [] and row["repeats"] == 1, row
        for metric in METRICS[kind]:
            assert row["metrics"][metric]["median"] > 0, (name, metric, row["metrics"])


@pytest.mark.slow
def test_quick_benchmark_sqlite_local(tmp_path: Path) -> None:
    """chain10, fanout50, parse10 on SQLite + LocalExecutor: rows with positive numbers."""
    _check_rows(_run(tmp_path, "sqlite-local"), "sqlite-local")


@pytest.mark.slow
def test_quick_benchmark_postgres_celery(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on PostgreSQL + CeleryExecutor when it can run here, else a reasoned 'unavailable'."""
    monkeypatch.setenv("DAGFLOW_BENCH_REDIS_URL", redis_server.address)  # read by the runner's process
    monkeypatch.setattr(configs, "REDIS_SERVER", redis_server.address)  # and by unavailable_reason() here
    reason = configs.unavailable_reason("postgres-celery")
    if reason is not None:
        document = _run(tmp_path, "postgres-celery")
        assert all(not row["available"] and row["reason"] == reason for row in document["rows"])
        missing_service = "unreachable" in reason
        if missing_service and os.environ.get("DAGFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (DAGFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    _check_rows(_run(tmp_path, "postgres-celery"), "postgres-celery")
