"""Peak memory of the scheduler and of the workers, sampled from ``/proc`` with psutil.

A ``MemorySampler`` thread wakes every ``interval`` seconds and walks the process trees
it was given:

- **scheduler**: the RSS of the ``dagflow scheduler`` (or ``dagflow dag-processor``)
  process itself;
- **workers**: every other process in those trees except the DAG parse server and its
  children (LocalExecutor workers and their forked task processes, or the whole
  ``dagflow celery worker`` trees). Their RSS is summed; because forked workers share
  most of their pages with the scheduler and with each other, the sum of their PSS
  (proportional set size, from ``/proc/PID/smaps_rollup``: each shared page divided
  by the number of processes mapping it) is recorded too; it is the honest total.
- **parser**: the parse server and its children (RSS sum), for the parse workload;
- **total PSS**: the PSS of every process of every tree together (schedulers, parse
  servers, LocalExecutor workers and task processes, Celery workers and their children),
  the machine memory the whole deployment takes.

RSS is read on every sample (``interval``, 0.2 s), PSS on every ``pss_every``-th (1 s)
and at the last one: reading ``smaps_rollup`` costs about 1 ms of kernel time per
process, and 30+ processes every 0.2 s took close to a tenth of this 2-core machine.

Peaks are maxima over the samples, in MB (10^6 bytes). Processes that live shorter
than one interval (a no-op task process lives a few ms) can be missed; their memory is
almost entirely shared with the worker that forked them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil

PARSE_SERVER_MARK = "dagflow.dag_processing.parse_server"
MB = 1_000_000


@dataclass
class MemoryPeaks:
    """Peak values in MB."""

    scheduler_rss_mb: float = 0.0
    workers_rss_mb: float = 0.0
    workers_pss_mb: float = 0.0
    parser_rss_mb: float = 0.0
    total_pss_mb: float = 0.0
    samples: int = 0


@dataclass
class MemorySampler:
    """Samples the trees of ``scheduler_pid`` (and ``more_schedulers``) and ``worker_pids`` until ``stop()``.

    With several schedulers, ``scheduler_rss_mb`` is the peak of the largest one.
    """

    scheduler_pid: int | None = None
    worker_pids: list[int] = field(default_factory=list)
    more_schedulers: list[int] = field(default_factory=list)
    interval: float = 0.2
    #: PSS (``smaps_rollup``, ~1 ms of kernel time per process) on every Nth sample only,
    #: so the sampler does not take a noticeable share of a 2-core machine from the run.
    pss_every: int = 5
    peaks: MemoryPeaks = field(default_factory=MemoryPeaks)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-memory", daemon=True)
        self._procs: dict[int, psutil.Process] = {}
        self._cmdlines: dict[int, str] = {}

    def start(self) -> MemorySampler:
        """Start sampling in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> MemoryPeaks:
        """Stop, take a last sample, return the peaks."""
        self._stop.set()
        self._thread.join()
        return self.peaks

    def _loop(self) -> None:
        while True:
            self.sample()
            if self._stop.wait(self.interval):
                return

    def sample(self) -> None:
        """One sample of every tree."""
        worker_rss = worker_pss = parser_rss = total_pss = 0.0
        with_pss = self.peaks.samples % self.pss_every == 0 or self._stop.is_set()
        schedulers = ([self.scheduler_pid] if self.scheduler_pid else []) + list(self.more_schedulers)
        for root in schedulers + list(self.worker_pids):
            proc = self._proc(root)
            if proc is None:
                continue
            try:
                descendants = proc.children(recursive=True)
            except psutil.Error:
                continue
            if root in schedulers:
                rss, pss = _memory(proc, with_pss=with_pss)
                self.peaks.scheduler_rss_mb = max(self.peaks.scheduler_rss_mb, rss / MB)
                total_pss += pss
            else:
                descendants = [proc, *descendants]
            parser_pids = _parser_pids(descendants, self._cmdlines)
            for child in descendants:
                rss, pss = _memory(child, with_pss=with_pss)
                total_pss += pss
                if child.pid in parser_pids:
                    parser_rss += rss
                else:
                    worker_rss += rss
                    worker_pss += pss
        peaks = self.peaks
        peaks.workers_rss_mb = max(peaks.workers_rss_mb, worker_rss / MB)
        peaks.workers_pss_mb = max(peaks.workers_pss_mb, worker_pss / MB)
        peaks.parser_rss_mb = max(peaks.parser_rss_mb, parser_rss / MB)
        peaks.total_pss_mb = max(peaks.total_pss_mb, total_pss / MB)
        peaks.samples += 1

    def _proc(self, pid: int) -> psutil.Process | None:
        if pid not in self._procs:
            try:
                self._procs[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        return self._procs[pid]


def _parser_pids(procs: list[psutil.Process], cmdlines: dict[int, str]) -> set[int]:
    """The parse server(s) among ``procs`` and their descendants (command lines cached by pid)."""
    found: set[int] = set()
    for proc in procs:
        try:
            if proc.pid not in cmdlines:
                cmdlines[proc.pid] = " ".join(proc.cmdline())
            if PARSE_SERVER_MARK in cmdlines[proc.pid]:
                found.add(proc.pid)
                found.update(child.pid for child in proc.children(recursive=True))
        except psutil.Error:
            continue
    return found


def _memory(proc: psutil.Process, *, with_pss: bool = True) -> tuple[float, float]:
    """(RSS, PSS) in bytes; PSS from ``smaps_rollup`` (0 when unreadable or not asked for)."""
    try:
        rss = float(proc.memory_info().rss)
    except psutil.Error:
        return 0.0, 0.0
    if not with_pss:
        return rss, 0.0
    try:
        with open(f"/proc/{proc.pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return rss, float(line.split()[1]) * 1024
    except OSError:
        pass
    return rss, 0.0


def tree_cpu_seconds(roots: list[int]) -> float:
    """CPU seconds (user + system) used so far by the trees under ``roots``.

    Each live process counts its own time plus that of the children it has reaped
    (``children_user``/``children_system``), so short-lived task processes, reaped by
    their worker, are counted once. Sampled before and after a run, the difference is
    the CPU the run cost; unlike wall time it barely moves when the machine is busy.
    """
    total = 0.0
    for root in roots:
        try:
            procs = [psutil.Process(root)]
            procs += procs[0].children(recursive=True)
        except psutil.Error:
            continue
        for proc in procs:
            try:
                t = proc.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system + t.children_user + t.children_system
    return total


def own_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds (user + system) of the processes ``pids`` themselves, without any child.

    The scheduler's own work: its forked LocalExecutor workers, their task processes and
    the parse server are its children and are left out.
    """
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total
