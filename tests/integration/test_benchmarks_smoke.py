"""The benchmark runner still works: ``python -m benchmarks --quick --repeat 1``.

Runs the smoke sizes (chain10, fanout50, parse10, mapped50, dags3, history2000) through
the real processes and checks the JSON rows, that every number is positive, that every
process's memory was counted (``total_pss_mb``) and that the dags workload ran each of its
30 catchup runs exactly once. No timing assertions: the
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
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import configs
from tests.servers import RedisServer

REPO = Path(__file__).resolve().parents[2]
QUICK = {
    "chain10": "chain",
    "fanout50": "fanout",
    "parse10": "parse",
    "mapped50": "mapped",
    "dags3": "dags",
    "history2000": "history",
}
METRICS = {
    "chain": ("seconds", "ms_per_task", "scheduler_rss_mb", "workers_rss_mb", "total_pss_mb"),
    "fanout": ("seconds", "tasks_per_s", "scheduler_rss_mb", "workers_rss_mb", "total_pss_mb"),
    "parse": ("cold_seconds", "rescan_seconds", "scheduler_rss_mb", "total_pss_mb"),
    "mapped": ("seconds", "tasks_per_s", "scheduler_cpu_ms_per_task", "scheduler_rss_mb", "total_pss_mb"),
    "dags": ("seconds", "runs_per_s", "first_run_s", "every_dag_first_run_s", "lag_p95_s", "total_pss_mb"),
    "history": ("seconds", "empty_seconds", "slowdown", "seed_seconds", "total_pss_mb"),
}


#: Invocations per configuration, one test each (each stays well inside the test timeout on a busy machine).
GROUPS = {
    "chain": ("chain10",),
    "fanout": ("fanout50",),
    "parse": ("parse10",),
    "mapped": ("mapped50",),
    "dags": ("dags3",),
    "history": ("history2000",),
}


def _run(tmp_path: Path, config: str, group: str) -> dict:
    out = tmp_path / f"{config}-{group}.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "--quick",
        "--workloads",
        ",".join(QUICK[name] for name in GROUPS[group]),
        "--repeat",
        "1",
        "--configs",
        config,
        "--json",
        str(out),
        "--timeout",
        "180",
    ]
    with subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:  # inside pytest-timeout (300 s), so a slow run fails with its own message
            stdout, stderr = proc.communicate(timeout=230)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGTERM)  # the runner stops its dagflow processes and drops its DB
            stdout, stderr = proc.communicate(timeout=60)
            pytest.fail(f"the benchmark runner took over 230 s: {stdout[-2000:]} {stderr[-2000:]}")
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return json.loads(out.read_text())


def _check_rows(document: dict, config: str, group: str) -> None:
    rows = {row["workload"]: row for row in document["rows"] if row["config"] == config}
    assert set(rows) == set(GROUPS[group])
    for name in GROUPS[group]:
        row = rows[name]
        assert row["available"] and row["errors"] == [] and row["repeats"] == 1, row
        for metric in METRICS[QUICK[name]]:
            assert row["metrics"][metric]["median"] > 0, (name, metric, row["metrics"])
    if group == "dags":
        dags = rows["dags3"]["metrics"]
        assert dags["expected_runs"]["median"] == dags["finished_runs"]["median"] == 30, dags
        assert dags["duplicates"]["median"] == 0, dags
    if group == "mapped":
        assert rows["mapped50"]["tasks"] == 51
    if group == "history":
        assert rows["history2000"]["metrics"]["seeded_task_instances"]["median"] == 2000
    for row in rows.values():
        assert "timed_out" not in row["metrics"], row


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS)
def test_quick_benchmark_sqlite_local(tmp_path: Path, group: str) -> None:
    """The quick workloads on SQLite + LocalExecutor: rows with positive numbers."""
    _check_rows(_run(tmp_path, "sqlite-local", group), "sqlite-local", group)


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS)
def test_quick_benchmark_postgres_celery(
    tmp_path: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, group: str
) -> None:
    """The same on PostgreSQL + CeleryExecutor when it can run here, else a reasoned 'unavailable'."""
    monkeypatch.setenv("DAGFLOW_BENCH_REDIS_URL", redis_server.address)  # read by the runner's process
    monkeypatch.setattr(configs, "REDIS_SERVER", redis_server.address)  # and by unavailable_reason() here
    reason = configs.unavailable_reason("postgres-celery")
    if reason is not None:
        document = _run(tmp_path, "postgres-celery", group)
        assert all(not row["available"] and row["reason"] == reason for row in document["rows"])
        missing_service = "unreachable" in reason
        if missing_service and os.environ.get("DAGFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(reason + " (DAGFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    _check_rows(_run(tmp_path, "postgres-celery", group), "postgres-celery", group)
