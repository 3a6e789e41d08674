"""The LocalExecutor: a pool of warm worker processes on this machine, grown on demand.

Each worker process runs ``core.tries_per_worker`` *lanes* (threads): a lane runs one try
at a time and is what the executor books work to (``parallelism`` bounds the lanes), so
32 running tries take 32 task processes and 4 workers, not 64 processes.

``start()`` imports dagflow, the SDK and the built-in operators once and forks nothing:
a worker is forked when a workload waits and no worker is idle (or about to be: one
forked and not yet ready counts), up to ``parallelism`` workers, as Airflow 3's
LocalExecutor does. A scheduler with nothing to run holds no worker, and its start-up
(parsing the DAG files) does not wait for 32 forks. A worker idle for
``core.worker_idle_timeout`` seconds offers to retire and the executor lets it go (see
``local_worker``); the next burst forks again. Each worker keeps a ``DagCache`` (DAG
files by path + mtime), so a try costs a claim, a fork and a record, not an
interpreter start. Workers drop the scheduler's pooled DB connections after the fork (``Database``
registers that) and open their own. Each worker has its own inbox; a workload goes to
the worker that became idle most recently (else it waits in a backlog until one does),
so a run of serial tasks stays on one or two warm workers (their DAG file imported and
their SQL compiled) instead of visiting all of them. The worker calls ``run_workload``
(the try still forks its own process group, so timeouts kill whole trees) and reports
back on a result queue: ``start``, ``done`` (as soon as the outcome is committed) and
``idle`` (free for the next workload).

A reader thread in the scheduler turns results into ``TaskEvent``s and sets
``wakeup`` at once: the scheduler loop waits on it instead of sleeping a poll interval.
``shutdown()`` stops handing out work, lets running tries finish for a grace period,
then terminates them (recorded as failed/retry by their supervisors) and leaves no
process behind.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections import deque
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from dagflow.execution.local_worker import Inbox, hand_back, kill_tree, warm_imports, worker_main
from dagflow.execution.workload import TaskWorkload
from dagflow.executors.base import BaseExecutor, TaskEvent, drain

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database

log = logging.getLogger(__name__)

#: Seconds ``shutdown()`` lets running tries finish before terminating them.
SHUTDOWN_GRACE_S = 5.0


class LocalExecutor(BaseExecutor):
    """Runs workloads on at most ``parallelism`` warm worker processes, forked on demand."""

    holds_tries_in_memory = True
    settings: Settings  # always given to this executor

    def __init__(self, settings: Settings, *, db: Database | None = None, parallelism: int | None = None) -> None:
        super().__init__(settings, db=db, parallelism=parallelism)
        self._ctx = multiprocessing.get_context("fork")
        self._events: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        #: Worker processes by pid, and the lanes (try slots) each runs.
        self._workers: dict[int, BaseProcess] = {}
        self._lanes_of: dict[int, list[int]] = {}
        self._next_lane = 0
        #: Per lane below (a lane runs one try at a time; a worker has ``tries_per_worker``).
        self._current: dict[int, tuple[int, int]] = {}
        self._inboxes: dict[int, Inbox] = {}
        self._idle: list[int] = []
        #: Forked, not ready yet (no ``idle`` message): each will take a backlog workload.
        self._fresh: set[int] = set()
        #: Told to exit because they were idle: their exit is no loss and starts no other.
        self._retired: set[int] = set()
        self._backlog: deque[dict[str, Any]] = deque()
        self._assigned: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._started = False

    @property
    def slots_free(self) -> int:
        """Room for ``parallelism`` running tries plus a backlog of as many waiting for a worker.

        The backlog keeps every worker busy between scheduler ticks; no more than
        ``parallelism`` tries ever run at once (there are at most that many workers).
        """
        return max(2 * self.parallelism - len(self.running), 0)

    @property
    def backlog(self) -> int:
        """Workloads submitted that wait for a free worker (0 when some worker is idle)."""
        return len(self._backlog)

    @property
    def workers(self) -> int:
        """Lanes (tries that can run at once) of the workers not reaped yet, never more than ``parallelism``."""
        with self._lock:
            return len(self._inboxes)

    @property
    def worker_processes(self) -> int:
        """Worker processes forked and not reaped yet (each runs up to ``core.tries_per_worker`` lanes)."""
        return len(self._workers)

    def start(self) -> None:
        """Import what tries need and start the result reader; no worker yet (idempotent)."""
        if self._started:
            return
        warm_imports()
        self._results: Any = self._ctx.SimpleQueue()
        self._stopping = self._ctx.Event()
        self._reader = threading.Thread(target=self._read_results, name="local-executor-results", daemon=True)
        self._reader.start()
        self._started = True

    def _grow(self) -> None:
        """Fork workers for the backlog that no idle or starting worker will take, up to ``parallelism``.

        Called from the thread that submits (the scheduler loop), never the reader.
        """
        with self._lock:
            wanted = min(len(self._backlog) - len(self._fresh), self.parallelism - len(self._inboxes))
            per_worker = max(self.settings.core.tries_per_worker, 1)
            while wanted > 0 and not self._stopping.is_set():
                lanes = min(per_worker, self.parallelism - len(self._inboxes))
                self._spawn_worker_locked(lanes)
                wanted -= lanes

    def _spawn_worker_locked(self, lanes: int) -> None:
        """Fork one worker with ``lanes`` lanes; registered under the lock, so their first ``idle`` finds them."""
        ids = list(range(self._next_lane, self._next_lane + lanes))
        self._next_lane += lanes
        inboxes = [Inbox(self._ctx) for _ in ids]
        proc = self._ctx.Process(
            target=worker_main,
            args=(self.settings, list(zip(ids, inboxes, strict=True)), self._results, self._stopping),
            name="dagflow-local-worker",
        )
        proc.start()
        assert proc.pid is not None
        self._workers[proc.pid] = proc
        self._lanes_of[proc.pid] = ids
        for lane, inbox in zip(ids, inboxes, strict=True):
            self._inboxes[lane] = inbox
            self._fresh.add(lane)

    def submit(self, workload: TaskWorkload) -> None:
        """Hand ``workload`` to the most recently idle worker, or queue it (forking a worker if needed)."""
        if not self._started:
            self.start()
        self._track(workload)
        with self._lock:
            self._backlog.append(workload.to_dict())
            self._dispatch_locked()
        self._grow()

    def _dispatch_locked(self) -> None:
        """Give backlog workloads to idle workers, most recently idle first (holding the lock)."""
        while self._backlog and self._idle and not self._stopping.is_set():
            lane = self._idle.pop()
            inbox = self._inboxes.get(lane)
            if inbox is None:  # its worker died meanwhile
                continue
            item = self._backlog.popleft()
            self._assigned[lane] = item
            inbox.put(item)

    def poll(self) -> list[TaskEvent]:
        """Events of tries that ended since the last poll (and of workers that died, seen by ``heartbeat``)."""
        events: list[TaskEvent] = drain(self._events)
        for event in events:
            self._untrack(event)
        return events

    def _read_results(self) -> None:
        """Reader thread: start/done messages from workers; ``None`` ends it."""
        while True:
            message = self._results.get()
            if message is None:
                return
            kind, lane, payload = message
            with self._lock:
                if kind == "start":
                    self._current[lane] = payload
                    continue
                if kind == "idle":
                    self._lane_idle_locked(lane)
                    continue
                if kind == "retiring":
                    self._lane_retiring_locked(lane)
                    continue
                self._current.pop(lane, None)
            self._events.put(payload)
            self.wakeup.set()

    def _lane_idle_locked(self, lane: int) -> None:
        self._current.pop(lane, None)
        self._assigned.pop(lane, None)
        self._fresh.discard(lane)
        if lane in self._inboxes and lane not in self._idle and lane not in self._retired:
            self._idle.append(lane)
            self._dispatch_locked()

    def _lane_retiring_locked(self, lane: int) -> None:
        """An idle lane offers to exit: let it, unless a workload was handed to it meanwhile.

        Its worker exits with its last lane; until then the lane is out of the books (its
        slot of ``parallelism`` is free for a new worker).
        """
        if lane not in self._idle or lane in self._assigned:
            return  # it will read that workload and run it
        self._idle.remove(lane)
        self._retired.add(lane)
        inbox = self._inboxes.pop(lane)
        inbox.put(None)
        inbox.close()

    def heartbeat(self) -> None:
        """Reap workers that exited; a try a dead one held becomes an event (``worker process N died``).

        Then fork workers if the backlog needs them (a dead worker's unstarted workload).
        """
        if not self._started or self._stopping.is_set():
            return
        for pid, proc in list(self._workers.items()):
            if not proc.is_alive():
                proc.join()
                del self._workers[pid]
                self._forget_worker(pid, proc.exitcode)
        self._grow()

    def _forget_worker(self, pid: int, exitcode: int | None) -> None:
        """Drop an exited worker's lanes from the books; resend their unstarted workloads, report their lost tries."""
        lost_tries: list[tuple[int, int]] = []
        unexpected = False
        with self._lock:
            for lane in self._lanes_of.pop(pid, []):
                lost = self._current.pop(lane, None)
                unstarted = self._assigned.pop(lane, None)
                inbox = self._inboxes.pop(lane, None)
                self._fresh.discard(lane)
                if lane in self._idle:
                    self._idle.remove(lane)
                retired = lane in self._retired
                self._retired.discard(lane)
                if retired and lost is None and unstarted is None:
                    continue  # it was idle and we let it go
                unexpected = True
                if inbox is not None:
                    inbox.close()
                if lost is not None:
                    lost_tries.append(lost)
                elif unstarted is not None:  # handed over, never started: resend
                    self._backlog.appendleft(unstarted)
            self._dispatch_locked()
        for ti_id, try_number in lost_tries:
            self._events.put(TaskEvent(ti_id, try_number, None, f"worker process {pid} died"))
        if unexpected:
            log.warning("local worker %s exited with code %s", pid, exitcode)

    def shutdown(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Stop the workers: finish or terminate running tries, leave no process behind."""
        if not self._started:
            return
        self._stopping.set()
        with self._lock:
            inboxes = list(self._inboxes.values())
        for inbox in inboxes:
            inbox.put(None)
        self._join_workers(time.monotonic() + grace_s)
        for proc in self._workers.values():
            if proc.is_alive():
                proc.terminate()  # the worker's handler terminates its try's process group
        self._join_workers(time.monotonic() + self.settings.core.killed_task_cleanup_time + 2)
        for proc in self._workers.values():
            if proc.is_alive():
                kill_tree(proc.pid)
                proc.join(1)
        self._hand_back_unstarted()
        self._results.put(None)
        if self._reader is not None:
            self._reader.join(5)
        self._workers.clear()
        self._started = False

    def _hand_back_unstarted(self) -> None:
        """Workloads no worker took: back to ``scheduled`` so the next scheduler queues them."""
        with self._lock:
            items: list[dict[str, Any] | None] = list(self._backlog)
            self._backlog.clear()
            for inbox in self._inboxes.values():
                items.extend(inbox.drain())
                inbox.close()
            self._inboxes.clear()
            self._idle.clear()
            self._assigned.clear()
            self._fresh.clear()
            self._retired.clear()
        leftovers = [TaskWorkload.from_dict(item) for item in items if item is not None]
        if not leftovers:
            return
        from dagflow.db import Database

        db = Database(self.settings)
        try:
            for workload in leftovers:
                hand_back(db, workload)
        finally:
            db.dispose()

    def _join_workers(self, deadline: float) -> None:
        for proc in self._workers.values():
            proc.join(max(deadline - time.monotonic(), 0.0))
