"""The scale workloads of issue 17: many DAGs catching up, and a run beside a long history.

dags (``dagsN``):
  1. write N DAG files (5 chained no-op tasks, every minute, ``catchup=True``, start date
     ``catchup_minutes`` before the current minute), so N x ``catchup_minutes`` runs are due;
  2. start the Celery workers and ``schedulers`` ``dagflow scheduler`` processes (two on
     PostgreSQL, one on SQLite); t0 = that moment;
  3. count successful runs every 0.5 s until every due run succeeded, or ``--timeout``;
  4. read every run from the DB: runs/s, time from t0 to the first finished run and until
     every DAG has a finished run, the lag ``end_date - data_interval_end`` (median, p95),
     and check that every (DAG, logical date) exists once with 5 task instances tried
     once. A duplicate or a failed run is an error; a timeout is not: the row keeps what
     finished by then, flagged ``timed_out`` (the code before a fix may finish almost
     nothing, and a before/after table needs that figure too; ``tasks_succeeded`` counts
     progress even when no run finished). CPU per task is per successful task instance.
history (``historyN``):
  fanout on an empty database, then fanout again on a database where ``seeding`` wrote N
  finished task instances (10 a run, a fifth of the runs belonging to the fanout DAG
  itself); ``slowdown`` = seeded seconds / empty seconds, in the same invocation.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.configs import Environment
from benchmarks.memory import MemorySampler, own_cpu_seconds, tree_cpu_seconds
from benchmarks.runner import (
    BenchmarkError,
    MetadataReader,
    Processes,
    RunResult,
    _add_memory,
    _as_epoch,
    run_dag_workload,
)
from benchmarks.seeding import seed_history
from benchmarks.workloads import DAGS_CHAIN_LENGTH, HISTORY_TASKS_PER_RUN, Workload

#: How often the dags workload counts finished runs (seconds).
DAGS_POLL_S = 0.5
_RUNS_SQL = (
    "SELECT dag_id, logical_date, data_interval_end, state, end_date FROM dag_run WHERE dag_id LIKE 'bench_dags_%'"
)


def run_dags_workload(
    environment: Environment,
    workload: Workload,
    *,
    timeout: float,
    schedulers: int = 1,
    profile_dir: Path | None = None,
) -> RunResult:
    """dags: N DAGs catching up; see the module docstring."""
    catchup_end = Workload.catchup_end()
    ids = workload.write(environment.dags, now=catchup_end)
    procs = Processes(environment, profile_dir)
    reader = MetadataReader(environment.db_url)
    sampler: MemorySampler | None = None
    metrics: dict[str, float] = {}
    try:
        workers = [procs.start(f"worker{i}", "celery", "worker") for i in range(environment.celery_workers)]
        t0 = time.time()
        started = [procs.start(f"scheduler{i}", "scheduler") for i in range(schedulers)]
        pids = [p.pid for p in started]
        sampler = MemorySampler(pids[0], [w.pid for w in workers], more_schedulers=pids[1:]).start()
        roots = [*pids, *(w.pid for w in workers)]
        timed_out, parsed_s = _wait_for_runs(reader, procs, workload, catchup_end=catchup_end, t0=t0, timeout=timeout)
        cpu_seconds, scheduler_cpu = tree_cpu_seconds(roots), own_cpu_seconds(pids)
        sampler.sample()
        metrics.update(_dags_metrics(reader, workload, ids, catchup_end=catchup_end, t0=t0))
        if timed_out:
            metrics.update(timed_out=1.0, seconds=timeout)
        metrics["runs_per_s"] = metrics["finished_runs"] / metrics["seconds"]
        if parsed_s is not None:
            metrics["parsed_s"] = parsed_s
        tasks = max(metrics["tasks_succeeded"], 1.0)
        metrics.update(
            cpu_seconds=cpu_seconds,
            cpu_ms_per_task=1000 * cpu_seconds / tasks,
            scheduler_cpu_seconds=scheduler_cpu,
            scheduler_cpu_ms_per_task=1000 * scheduler_cpu / tasks,
        )
        return RunResult(metrics=metrics)
    finally:
        procs.stop_all()
        reader.close()
        if sampler is not None:
            _add_memory(metrics, sampler)


def _wait_for_runs(
    reader: MetadataReader, procs: Processes, workload: Workload, *, catchup_end: datetime, t0: float, timeout: float
) -> tuple[bool, float | None]:
    """Poll until every due run succeeded: (timed out?, seconds until every DAG was parsed)."""
    parsed_s: float | None = None
    checks = 0
    parsed_sql = "SELECT count(*) FROM serialized_dag WHERE dag_id LIKE 'bench_dags_%'"
    while True:
        if parsed_s is None and reader.scalar(parsed_sql) >= workload.size:
            parsed_s = time.time() - t0
        done = reader.scalar("SELECT count(*) FROM dag_run WHERE dag_id LIKE 'bench_dags_%' AND state = 'success'")
        if done >= workload.expected_runs and _due_runs_done(reader, workload, catchup_end):
            return False, parsed_s
        failed = reader.scalar("SELECT count(*) FROM dag_run WHERE dag_id LIKE 'bench_dags_%' AND state = 'failed'")
        if failed:
            raise BenchmarkError(f"{failed} run(s) failed")
        checks += 1
        if checks % 10 == 0:
            procs.check_alive()
        if time.time() - t0 > timeout:
            return True, parsed_s
        time.sleep(DAGS_POLL_S)


def _due_runs_done(reader: MetadataReader, workload: Workload, catchup_end: datetime) -> bool:
    """True when ``expected_runs`` runs with an interval ending by ``catchup_end`` succeeded."""
    with reader.engine.connect() as conn:
        rows = conn.execute(sa.text(_RUNS_SQL)).all()
    return sum(1 for r in _due(rows, catchup_end) if r.state == "success") >= workload.expected_runs


def _due(runs: list[sa.Row[Any]], catchup_end: datetime) -> list[sa.Row[Any]]:
    """The runs of the catchup (interval ending by ``catchup_end``), not those of the minutes after."""
    end = _as_epoch(catchup_end)
    return [r for r in runs if r.data_interval_end is not None and _as_epoch(r.data_interval_end) <= end + 0.5]


def _dags_metrics(
    reader: MetadataReader, workload: Workload, ids: list[str], *, catchup_end: datetime, t0: float
) -> dict[str, float]:
    """Everything the dags row reports, read from the DB; raises on a duplicate or a failed run."""
    with reader.engine.connect() as conn:
        runs = conn.execute(sa.text(_RUNS_SQL)).all()
        duplicates = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT dag_id, logical_date FROM dag_run WHERE dag_id LIKE 'bench_dags_%' "
                "GROUP BY dag_id, logical_date HAVING count(*) > 1) d"
            )
        ).scalar()
        bad_tis = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT r.dag_id, r.run_id FROM dag_run r JOIN task_instance t "
                "ON t.dag_id = r.dag_id AND t.run_id = r.run_id WHERE r.dag_id LIKE 'bench_dags_%' "
                "AND r.state = 'success' GROUP BY r.dag_id, r.run_id "
                "HAVING count(*) <> :n OR max(t.try_number) <> 1 OR min(t.try_number) <> 1) b"
            ),
            {"n": DAGS_CHAIN_LENGTH},
        ).scalar()
        tasks_succeeded = conn.execute(
            sa.text("SELECT count(*) FROM task_instance WHERE dag_id LIKE 'bench_dags_%' AND state = 'success'")
        ).scalar()
    if duplicates:
        raise BenchmarkError(f"{duplicates} (DAG, logical date) pair(s) have more than one run")
    if bad_tis:
        raise BenchmarkError(f"{bad_tis} finished run(s) without exactly {DAGS_CHAIN_LENGTH} tasks tried once")
    finished = [r for r in _due(list(runs), catchup_end) if r.state == "success" and r.end_date is not None]
    first_by_dag: dict[str, float] = defaultdict(lambda: float("inf"))
    for r in finished:
        first_by_dag[r.dag_id] = min(first_by_dag[r.dag_id], _as_epoch(r.end_date))
    metrics: dict[str, float] = {
        "expected_runs": float(workload.expected_runs),
        "finished_runs": float(len(finished)),
        "runs_created": float(len(runs)),
        "dags_with_a_finished_run": float(len(first_by_dag)),
        "tasks_succeeded": float(tasks_succeeded or 0),
        "duplicates": 0.0,
    }
    if finished:
        ends = [_as_epoch(r.end_date) for r in finished]
        lags = sorted(e - _as_epoch(r.data_interval_end) for e, r in zip(ends, finished, strict=True))
        metrics.update(
            seconds=max(ends) - t0,
            first_run_s=min(ends) - t0,
            lag_median_s=statistics.median(lags),
            lag_p95_s=lags[min(len(lags) - 1, int(len(lags) * 0.95))],
        )
        if len(first_by_dag) == len(ids):
            metrics["every_dag_first_run_s"] = max(first_by_dag.values()) - t0
    else:
        metrics["seconds"] = time.time() - t0
    return metrics


def run_history_workload(
    make_environment: Callable[[str], Environment],
    workload: Workload,
    *,
    timeout: float,
    profile_dir: Path | None = None,
) -> RunResult:
    """history: fanout on an empty DB, then on a seeded one; the slowdown between them."""
    fanout = replace(workload, kind="fanout", size=workload.fanout_size)
    results: dict[str, dict[str, float]] = {}
    for label in ("empty", "seeded"):
        environment = make_environment(label)  # the caller cleans up (or keeps with --keep)
        if label == "seeded":
            began = time.monotonic()
            _seed(environment, workload, fanout.dag_id)
            results["seed"] = {"seconds": time.monotonic() - began}
        results[label] = run_dag_workload(environment, fanout, timeout=timeout, profile_dir=profile_dir).metrics
    empty, seeded = results["empty"], results["seeded"]
    metrics = dict(seeded)
    metrics.update(
        empty_seconds=empty["seconds"],
        empty_cpu_ms_per_task=empty["cpu_ms_per_task"],
        seed_seconds=results["seed"]["seconds"],
        slowdown=seeded["seconds"] / empty["seconds"],
        cpu_slowdown=seeded["cpu_ms_per_task"] / empty["cpu_ms_per_task"],
        seeded_task_instances=float(workload.size),
    )
    if empty.get("timed_out"):
        metrics["timed_out"] = 1.0
    return RunResult(metrics=metrics)


def _seed(environment: Environment, workload: Workload, fanout_dag_id: str) -> None:
    """``workload.size`` finished task instances in runs of 10, over 5 DAGs (one is the fanout's)."""
    engine = sa.create_engine(environment.db_url, poolclass=sa.pool.NullPool)
    try:
        dag_ids = [fanout_dag_id, *(f"bench_history_{i}" for i in range(4))]
        runs = max(workload.size // HISTORY_TASKS_PER_RUN, 1)
        seed_history(engine, dag_ids=dag_ids, runs=runs, tasks_per_run=HISTORY_TASKS_PER_RUN)
    finally:
        engine.dispose()
