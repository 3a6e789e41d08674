"""One measured run of a workload on a configuration, through the real processes.

chain / fanout / mapped (and each half of history, see ``scale.py``):
  1. start ``dagflow scheduler`` (DAG processor inside it) [+ ``dagflow celery worker``];
  2. wait until the DAG is in the metadata DB (parsed by that scheduler);
  3. ``dagflow dags trigger DAG -r bench``;
  4. read the run's state from the DB every 10 ms until it is ``success``;
  5. seconds = the moment success was seen - the run's ``queued_at`` (written by the
     trigger command), so the CLI's own start-up is not counted but the scheduler's
     reaction to the new run is. Every task instance must be ``success``. At
     ``--timeout`` the run is not thrown away: the row reports the tasks that succeeded
     by then (``tasks_succeeded``, rate and CPU per finished task), flagged ``timed_out``.
     CPU: the CPU seconds the scheduler's and workers' process trees used between the
     trigger and success (``memory.tree_cpu_seconds``), per task: a number that moves
     far less than wall time when the machine is shared. ``scheduler_cpu_ms_per_task``:
     the scheduler process alone (no worker, task or parse process), per task;
     ``worker_main_cpu_ms_per_task`` (postgres-celery): the ``dagflow celery worker``
     main processes alone (they receive, hand over and acknowledge every message).
     ``db_server_cpu_ms_per_task`` (PostgreSQL on this machine): the CPU of the server's
     backends connected to the run's database, which ``cpu_ms_per_task`` does not count
     (a lower bound: a backend that disconnects before the end is left out).
parse:
  cold: start ``dagflow scheduler`` on a migrated, empty DB and the N files; seconds
  until N serialized DAGs are in the DB, counted from the process start (interpreter,
  executor start, parse server start, parsing, writing). The scheduler's RSS is
  sampled meanwhile and once more with everything loaded.
  re-scan: ``dagflow dag-processor --once`` on the populated DB: the processor resumes
  from the stamps the scheduler recorded, so no unchanged file is parsed again and
  nothing is written; seconds = the pass duration the processor reports (listing,
  stat of every file and its imports). forced re-scan (``rescan_forced_seconds``, JSON
  only): the same with ``--force``: every file is parsed again (parse server start,
  parsing, comparing hashes) and nothing is written.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa

from benchmarks.configs import Environment
from benchmarks.memory import MemorySampler, own_cpu_seconds, tree_cpu_seconds
from benchmarks.workloads import Workload

#: How often the runner reads the DB while waiting (seconds).
POLL_S = 0.01
RUN_ID = "bench"


class BenchmarkError(RuntimeError):
    """A run did not reach its goal (timeout, failed task, process died)."""


class BenchmarkTimeout(BenchmarkError):
    """``wait_until`` gave up; a triggered run then reports what finished by then (``timed_out``)."""


@dataclass
class RunResult:
    """The numbers of one run."""

    metrics: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


class Processes:
    """The dagflow subprocesses of one run; all stopped by ``stop_all``.

    With ``profile_dir``, ``py-spy record --subprocesses`` is attached to each started
    process (it must be installed; it is not a dependency of dagflow) and writes a
    collapsed-stack profile there when the run ends (speedscope and flamegraph.pl read it).
    """

    def __init__(self, environment: Environment, profile_dir: Path | None = None) -> None:
        self.environment = environment
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.profile_dir = profile_dir
        self.profilers: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """``python -m dagflow ARGS`` in its own session, output to ``<root>/<name>.log``."""
        log = (self.environment.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [self.environment.python, "-m", "dagflow", *args],
            env=self.environment.env,
            cwd=self.environment.root,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append((name, proc))
        if self.profile_dir is not None:
            self._profile(name, proc.pid)
        return proc

    def _profile(self, name: str, pid: int) -> None:
        assert self.profile_dir is not None
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        out = self.profile_dir / f"{self.environment.root.name}-{name}.txt"
        self.profilers.append(
            subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(pid),
                    "--subprocesses",
                    "--rate",
                    "250",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    def check_alive(self) -> None:
        """Raise if a process died (with the end of its log)."""
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise BenchmarkError(f"{name} exited with code {proc.returncode}: {self.tail(name)}")

    def tail(self, name: str) -> str:
        """The last lines of a process's log, on one line."""
        path = self.environment.root / f"{name}.log"
        try:
            lines = path.read_text(errors="replace").strip().splitlines()[-3:]
        except OSError:
            return ""
        return " | ".join(lines)[-600:]

    def stop_all(self, timeout: float = 60.0) -> None:
        """SIGTERM every process (a clean shutdown), SIGKILL the group after ``timeout``."""
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for _, proc in self.procs:
            try:
                proc.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(proc.pid)
            proc.wait()
        for profiler in self.profilers:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        self.profilers.clear()


def _kill_group(pid: int) -> None:
    try:
        import os

        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def cli(environment: Environment, *args: str, timeout: float = 120.0) -> str:
    """Run ``dagflow ARGS`` to completion; its stdout (raises on a non-zero exit)."""
    proc = subprocess.run(
        [environment.python, "-m", "dagflow", *args],
        env=environment.env,
        cwd=environment.root,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"dagflow {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


class MetadataReader:
    """Plain SQL reads of the metadata DB (no dagflow code involved)."""

    def __init__(self, url: str) -> None:
        kwargs: dict[str, Any] = {"poolclass": sa.pool.NullPool} if url.startswith("sqlite") else {}
        self.engine = sa.create_engine(url, **kwargs)

    def scalar(self, sql: str, **params: Any) -> Any:
        """One value."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def row(self, sql: str, **params: Any) -> Any:
        """One row (or None)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).first()

    def backend_cpu_seconds(self) -> dict[int, float] | None:
        """CPU seconds of each PostgreSQL backend on this database but this reader's; None if not local.

        Read from ``/proc`` (psutil): only a server on this machine, and only processes named
        ``postgres``, so a remote server's pids that happen to exist here are not counted.
        """
        if self.engine.dialect.name != "postgresql":
            return None
        with self.engine.connect() as conn:
            pids = conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            seconds: dict[int, float] = {}
            for pid in pids:
                try:
                    process = psutil.Process(pid)
                    if "postgres" not in process.name():
                        continue
                    times = process.cpu_times()
                except psutil.Error:
                    continue
                seconds[pid] = times.user + times.system
        return seconds or None

    def close(self) -> None:
        """Release connections."""
        self.engine.dispose()


def wait_until(
    predicate: Any, *, timeout: float, what: str, procs: Processes | None = None, poll: float = POLL_S
) -> float:
    """Call ``predicate`` every ``poll`` s until true; the ``time.time()`` it became true."""
    deadline = time.monotonic() + timeout
    checks = 0
    while True:
        if predicate():
            return time.time()
        checks += 1
        if procs is not None and checks % 50 == 0:
            procs.check_alive()
        if time.monotonic() > deadline:
            raise BenchmarkTimeout(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(poll)


def _as_epoch(value: Any) -> float:
    """A DB timestamp (datetime, or SQLite text, naive = UTC) as epoch seconds."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return float(value.timestamp())


def run_dag_workload(
    environment: Environment, workload: Workload, *, timeout: float, profile_dir: Path | None = None
) -> RunResult:
    """chain / fanout / mapped: trigger one run and time it to success (see the module docstring)."""
    workload.write(environment.dags)
    procs = Processes(environment, profile_dir)
    reader = MetadataReader(environment.db_url)
    sampler: MemorySampler | None = None
    metrics: dict[str, float] = {}
    try:
        workers = [procs.start(f"worker{i}", "celery", "worker") for i in range(environment.celery_workers)]
        scheduler = procs.start("scheduler", "scheduler")
        sampler = MemorySampler(scheduler.pid, [w.pid for w in workers]).start()
        wait_until(
            lambda: (
                reader.scalar(
                    "SELECT count(*) FROM serialized_dag s JOIN dag d ON d.dag_id = s.dag_id "
                    "WHERE s.dag_id = :d AND d.is_paused = :f",
                    d=workload.dag_id,
                    f=False,
                )
                == 1
            ),
            timeout=timeout,
            what=f"{workload.dag_id} to be parsed",
            procs=procs,
        )
        roots = [scheduler.pid, *(w.pid for w in workers)]
        cpu_before = tree_cpu_seconds(roots)
        scheduler_cpu_before = own_cpu_seconds([scheduler.pid])
        worker_main_cpu_before = own_cpu_seconds([w.pid for w in workers])
        backends_before = reader.backend_cpu_seconds() or {}
        cli(environment, "dags", "trigger", workload.dag_id, "--run-id", RUN_ID, "--output", "plain")
        done_sql = "SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"
        timed_out = False
        try:
            seen = wait_until(
                lambda: reader.scalar(done_sql, d=workload.dag_id, r=RUN_ID) in ("success", "failed"),
                timeout=timeout,
                what=f"run {RUN_ID} of {workload.dag_id} to finish",
                procs=procs,
            )
        except BenchmarkTimeout:
            timed_out, seen = True, time.time()
        cpu_seconds = tree_cpu_seconds(roots) - cpu_before
        scheduler_cpu = own_cpu_seconds([scheduler.pid]) - scheduler_cpu_before
        worker_main_cpu = own_cpu_seconds([w.pid for w in workers]) - worker_main_cpu_before
        backends_after = reader.backend_cpu_seconds()
        run = reader.row(
            "SELECT state, queued_at, start_date, end_date FROM dag_run WHERE dag_id = :d AND run_id = :r",
            d=workload.dag_id,
            r=RUN_ID,
        )
        succeeded = reader.scalar(
            "SELECT count(*) FROM task_instance WHERE dag_id = :d AND run_id = :r AND state = 'success'",
            d=workload.dag_id,
            r=RUN_ID,
        )
        if not timed_out and (run.state != "success" or succeeded != workload.tasks):
            raise BenchmarkError(f"run ended {run.state} with {succeeded}/{workload.tasks} tasks successful")
        seconds = seen - _as_epoch(run.queued_at)
        done = max(succeeded, 1)  # per task that finished (all of them unless the run timed out)
        metrics.update(
            seconds=seconds,
            tasks_succeeded=float(succeeded),
            cpu_seconds=cpu_seconds,
            cpu_ms_per_task=1000 * cpu_seconds / done,
            scheduler_cpu_seconds=scheduler_cpu,
            scheduler_cpu_ms_per_task=1000 * scheduler_cpu / done,
        )
        if workers:
            metrics["worker_main_cpu_ms_per_task"] = 1000 * worker_main_cpu / done
        if backends_after is not None:
            db_server_cpu = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends_after.items())
            metrics["db_server_cpu_ms_per_task"] = 1000 * db_server_cpu / done
        if run.start_date is not None:
            metrics["start_latency_s"] = _as_epoch(run.start_date) - _as_epoch(run.queued_at)
        if timed_out:
            metrics.update(timed_out=1.0, tasks_per_s=succeeded / seconds)
            sampler.sample()
            return RunResult(metrics=metrics)
        metrics["db_seconds"] = _as_epoch(run.end_date) - _as_epoch(run.queued_at)
        if workload.kind == "chain":
            metrics["ms_per_task"] = 1000 * seconds / workload.tasks
        else:
            metrics["tasks_per_s"] = workload.tasks / seconds
        sampler.sample()
        return RunResult(metrics=metrics)
    finally:
        procs.stop_all()
        reader.close()
        if sampler is not None:
            _add_memory(metrics, sampler)


def _add_memory(metrics: dict[str, float], sampler: MemorySampler) -> None:
    peaks = sampler.stop()
    if metrics:
        metrics.update(
            scheduler_rss_mb=peaks.scheduler_rss_mb,
            workers_rss_mb=peaks.workers_rss_mb,
            workers_pss_mb=peaks.workers_pss_mb,
            parser_rss_mb=peaks.parser_rss_mb,
            total_pss_mb=peaks.total_pss_mb,
        )


_SUMMARY = re.compile(r"parsed (\d+) of (\d+) file\(s\) in ([0-9.]+)s: (\d+) DAG\(s\), (\d+) changed")


def run_parse_workload(
    environment: Environment, workload: Workload, *, timeout: float, profile_dir: Path | None = None
) -> RunResult:
    """parse: cold start to N DAGs in the DB, then a re-scan of unchanged files."""
    workload.write(environment.dags)
    procs = Processes(environment, profile_dir)
    reader = MetadataReader(environment.db_url)
    sampler: MemorySampler | None = None
    metrics: dict[str, float] = {}
    try:
        started = time.time()
        scheduler = procs.start("scheduler", "scheduler")
        sampler = MemorySampler(scheduler.pid).start()
        seen = wait_until(
            lambda: reader.scalar("SELECT count(*) FROM serialized_dag") >= workload.size,
            timeout=timeout,
            what=f"{workload.size} DAGs in the DB",
            procs=procs,
        )
        metrics["cold_seconds"] = seen - started
        time.sleep(0.5)  # the scheduler with every DAG loaded
        sampler.sample()
        procs.stop_all()
        peaks = sampler.stop()
        sampler = None
        metrics.update(
            scheduler_rss_mb=peaks.scheduler_rss_mb,
            parser_rss_mb=peaks.parser_rss_mb,
            total_pss_mb=peaks.total_pss_mb,
        )
        out = cli(environment, "dag-processor", "--once", timeout=timeout)
        match = _SUMMARY.search(out)
        if match is None:
            raise BenchmarkError(f"no pass summary in the dag-processor output: {out.strip()[-300:]}")
        parsed, dags, changed = int(match.group(1)), int(match.group(4)), int(match.group(5))
        if parsed != 0 or changed != 0:
            raise BenchmarkError(f"re-scan parsed {parsed} files, {dags} DAGs, {changed} changed")
        metrics["rescan_seconds"] = float(match.group(3))
        match = _SUMMARY.search(cli(environment, "dag-processor", "--once", "--force", timeout=timeout))
        if match is None or int(match.group(1)) != workload.size or int(match.group(5)) != 0:
            raise BenchmarkError(f"forced re-scan: {match.group(0) if match else 'no pass summary'}")
        metrics["rescan_forced_seconds"] = float(match.group(3))
        return RunResult(metrics=metrics)
    finally:
        procs.stop_all()
        reader.close()
        if sampler is not None:
            sampler.stop()
