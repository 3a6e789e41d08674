"""The LocalExecutor's worker process: take workloads from its inboxes, run them, report back.

A worker has one or more *lanes* (``core.tries_per_worker``): each lane has its own inbox,
runs one try at a time (claim, fork or hand over to its task process, supervise, record)
and is what the executor books a try to. Several lanes run in threads of one process, so
one worker supervises several tries at once, each in its own task process.

Messages on the result queue, per lane: ``("idle", lane, None)`` when ready for a
workload (on its own inbox), ``("start", lane, (ti_id, try_number))`` before a try,
``("done", lane, TaskEvent)`` once its outcome is committed (or it ended without one),
and ``("retiring", lane, None)`` after ``core.worker_idle_timeout`` seconds without work:
the executor then sends ``None`` (that lane exits) unless a workload is already on its
way, which the lane runs as usual; a worker exits when its last lane has. A worker
ignores SIGINT (Ctrl-C goes to the scheduler, which shuts the pool down); on SIGTERM it
terminates its running tries' process groups, whose supervisors record the outcomes, and
exits after them. A workload received while stopping is handed back (``queued ->
scheduled``) instead of run. A worker whose scheduler died (``kill -9``) finishes its
running tries and exits.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import psutil

from dagflow.execution.workload import TaskEvent, TaskOutcome, TaskWorkload
from dagflow.fork_gate import FORK_GATE
from dagflow.signals import on_signals
from dagflow.state import TaskInstanceState

if TYPE_CHECKING:
    from dagflow.config import Settings
    from dagflow.db import Database

log = logging.getLogger(__name__)


def warm_imports() -> None:
    """Import what every try needs, once, before the workers are forked."""
    import dagflow.execution.runner
    import dagflow.operators
    import dagflow.sensors  # noqa: F401
    from dagflow.execution.context import warm_imports as warm_context

    warm_context()


class Inbox:
    """A worker's own work queue: the executor writes (under its lock), the worker reads.

    A one-way pipe, so the worker can wait for work with a timeout (``wait``) and the
    executor can take back what no worker read (``drain``, at shutdown).
    """

    def __init__(self, ctx: Any) -> None:
        self._reader: Connection
        self._writer: Connection
        self._reader, self._writer = ctx.Pipe(duplex=False)

    def put(self, item: dict[str, Any] | None) -> None:
        """Send a workload (as a dict), or None: exit."""
        self._writer.send(item)

    def wait(self, timeout: float) -> bool:
        """True once something can be read, False after ``timeout`` seconds."""
        return self._reader.poll(timeout)

    def get(self) -> dict[str, Any] | None:
        """The next item, blocking."""
        item: dict[str, Any] | None = self._reader.recv()
        return item

    def drain(self) -> list[dict[str, Any] | None]:
        """Everything sent and not read yet, without blocking.

        A worker killed in the middle of reading a message leaves the rest of it in the
        pipe, which no longer parses: what follows is lost here (logged), and a workload in
        it stays ``queued`` until the scheduler's stuck-queued check hands it back.
        """
        items = []
        while self._reader.poll(0):
            try:
                items.append(self._reader.recv())
            except (EOFError, OSError, pickle.UnpicklingError) as err:
                log.warning("an inbox could not be read to its end at shutdown: %s", err or type(err).__name__)
                break
        return items

    def close(self) -> None:
        """Close both ends (in the executor, once the worker is gone)."""
        self._reader.close()
        self._writer.close()


def worker_main(settings: Settings, lanes: list[tuple[int, Inbox]], results: Any, stopping: Any) -> None:
    """The worker (runs in the forked worker process): one lane per ``(lane id, inbox)``.

    Each lane takes workloads from its own inbox and runs one try at a time; a worker with
    several lanes runs them in threads, so it supervises that many tries at once (each in
    its own task process: heartbeats, deadline, log, outcome per try, as with one lane).
    """
    from dagflow.db import Database
    from dagflow.execution.dag_cache import DagCache
    from dagflow.execution.reused_process import TaskProcessSlot

    # What the scheduler held at the fork stays shared: the collector must not touch it
    # (writing a GC header copies the page) and the worker never frees it anyway.
    gc.freeze()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    db = Database(settings)
    if len(lanes) > 1:  # lanes fork task processes while the others run: see ``fork_gate``
        FORK_GATE.enable()
        FORK_GATE.watch_engine(db.engine)
    cache = DagCache(freeze_imports=True)  # the DAGs stay shared with the task processes
    slots = [TaskProcessSlot() for _ in lanes]
    busy = [threading.Lock() for _ in lanes]
    exit_when_orphaned(os.getppid(), stopping, busy)
    try:
        with on_signals(_on_sigterm(stopping), signals=(signal.SIGTERM,)):
            work = [
                Lane(lane, inbox, slot, lock, settings, db, cache, results, stopping)
                for (lane, inbox), slot, lock in zip(lanes, slots, busy, strict=True)
            ]
            if len(work) == 1:
                work[0].run()
            else:
                for lane in work:
                    lane.shares_worker = True
                _run_lanes(work, stopping)
    finally:
        for slot, lock in zip(slots, busy, strict=True):
            if lock.acquire(timeout=settings.core.killed_task_cleanup_time + 5):
                slot.retire()
        db.dispose()


def _run_lanes(lanes: list[Lane], stopping: Any) -> None:
    """Run each lane in a thread until all have ended, or, once stopping, none runs a try.

    A lane waiting on its inbox when the worker stops would wait forever (the executor
    takes back what was never read), so the worker leaves once no lane is busy.
    """
    threads = [threading.Thread(target=lane.run, name=f"dagflow-local-lane-{lane.lane}", daemon=True) for lane in lanes]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        # Polled, never ``stopping.wait()``: a worker killed (``kill -9``) while it waits
        # on the shared event leaves a sleeper that never wakes, and the executor's
        # ``stopping.set()`` would then wait for it for ever.
        if stopping.is_set() and not any(lane.busy.locked() for lane in lanes):
            return
        time.sleep(0.2)


#: In a worker with several lanes: seconds a lane keeps its idle task process for its next
#: try. The executor hands work to the most recently idle lane, so under a steady load the
#: lanes it does not need stay idle; without this each kept a task process (~15-20 MB) until
#: the lane retired (``core.worker_idle_timeout``), and a fan-out held more task processes than
#: tries running. A lane that has a try again after this forks a fresh task process.
KEEP_IDLE_TASK_PROCESS_S = 5.0


class Lane:
    """One try at a time from one inbox; a worker runs one or several."""

    def __init__(
        self,
        lane: int,
        inbox: Inbox,
        slot: Any,
        busy: threading.Lock,
        settings: Settings,
        db: Database,
        cache: Any,
        results: Any,
        stopping: Any,
    ) -> None:
        self.lane, self.inbox, self.slot, self.busy = lane, inbox, slot, busy
        self.settings, self.db, self.cache, self.results, self.stopping = settings, db, cache, results, stopping
        self.shares_worker = False  # set when the worker runs other lanes beside this one

    def _wait_keeping_task_process(self) -> float:
        """Wait up to ``KEEP_IDLE_TASK_PROCESS_S`` for work, keeping the idle task process; if
        none came (a lane sharing its worker), retire that process. Seconds left of
        ``core.worker_idle_timeout`` (0: wait for ever)."""
        idle_timeout = self.settings.core.worker_idle_timeout
        keep = KEEP_IDLE_TASK_PROCESS_S
        if not self.shares_worker or (0 < idle_timeout <= keep) or self.inbox.wait(keep):
            return idle_timeout
        with self.busy:
            self.slot.retire()
        return max(idle_timeout - keep, 0.001) if idle_timeout > 0 else 0

    def run(self) -> None:
        """Say ``idle``, take the next workload, run it; until told to exit or stopping."""
        results, lane = self.results, self.lane
        while not self.stopping.is_set():
            results.put(("idle", lane, None))  # ready for the next workload
            item = _next_item(self.inbox, results, lane, self._wait_keeping_task_process())
            with self.busy:
                if item is None:
                    self.slot.retire()  # the worker may run on with its other lanes
                    break
                workload = TaskWorkload.from_dict(item)
                if self.stopping.is_set():
                    hand_back(self.db, workload)
                    break
                results.put(("start", lane, (workload.ti_id, workload.try_number)))
                _run_and_report(workload, self.settings, self.db, self.cache, results, lane, self.slot)


def _next_item(tasks: Inbox, results: Any, lane: int, idle_timeout: float) -> dict[str, Any] | None:
    """Wait for work; idle for ``idle_timeout`` seconds (0: forever), offer to retire.

    The executor decides, so a workload it sent at the same instant is never lost: it
    answers ``None`` only if this lane is still idle in its books.
    """
    if idle_timeout > 0 and not tasks.wait(idle_timeout):
        results.put(("retiring", lane, None))
    return tasks.get()


def _run_and_report(
    workload: TaskWorkload, settings: Settings, db: Database, cache: Any, results: Any, lane: int, slot: Any
) -> None:
    """Run one workload; ``("done", …)`` as soon as its outcome is committed.

    The early "done" lets the scheduler plan the next tasks while this try's process
    still runs its callbacks and exits; the loop's next "idle" says the lane is free.
    """
    from dagflow.execution.runner import run_workload

    reported: list[TaskEvent] = []

    def report(outcome: TaskOutcome) -> None:
        reported.append(TaskEvent.from_outcome(outcome))
        results.put(("done", lane, reported[0]))

    try:
        event = TaskEvent.from_outcome(
            run_workload(
                workload,
                settings,
                db=db,
                dag_cache=cache,
                on_recorded=report,
                reuse_process=True,
                task_slot=slot,
            )
        )
    except Exception as exc:  # noqa: BLE001 - report, keep the worker alive
        event = TaskEvent(workload.ti_id, workload.try_number, None, f"worker error: {exc!r}")
    if not reported:
        results.put(("done", lane, event))


#: How often a worker checks that the scheduler that forked it is still alive.
PARENT_CHECK_INTERVAL_S = 1.0


def exit_when_orphaned(
    parent: int, stopping: Any, busy: list[threading.Lock], interval_s: float = PARENT_CHECK_INTERVAL_S
) -> threading.Thread:
    """Watch thread: once the scheduler is gone (``kill -9``), take no more work and exit.

    Tries that are running (their lane's ``busy`` held) finish and are recorded, then the
    lanes end; a worker with no try running exits at once. Without this, workers of a killed scheduler would wait
    on the work queue forever. A workload taken in the instant the watcher exits stays
    ``queued`` and is re-sent by the stuck-queued check.
    """

    def _watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        stopping.set()
        taken: list[threading.Lock] = []
        for lock in busy:
            if not lock.acquire(blocking=False):
                for held in taken:  # a try runs: the lanes end after it, then the worker
                    held.release()
                return
            taken.append(lock)
        os._exit(0)

    thread = threading.Thread(target=_watch, name="dagflow-local-worker-orphan-watch", daemon=True)
    thread.start()
    return thread


def _on_sigterm(stopping: Any) -> Any:
    def on_sigterm(_sig: signal.Signals) -> None:  # in the relay thread, not in the handler
        stopping.set()
        terminate_children()

    return on_sigterm


def terminate_children() -> None:
    """SIGTERM the process group of every child (each try leads its own group)."""
    try:
        children = psutil.Process().children()
    except psutil.Error:
        return
    for child in children:
        try:
            os.killpg(child.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            try:
                child.terminate()
            except psutil.Error:
                continue


def kill_tree(pid: int | None) -> None:
    """SIGKILL a process and every descendant (used on workers that would not stop)."""
    if pid is None:
        return
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL) if os.getpgid(proc.pid) == proc.pid else proc.kill()
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue


def hand_back(db: Database, workload: TaskWorkload) -> None:
    """Return a workload that will not run to ``scheduled``, so a scheduler queues it again."""
    from dagflow.models import TaskInstance
    from dagflow.models.transitions import set_ti_state

    with db.transaction() as session:
        set_ti_state(
            session,
            [workload.ti_id],
            to=TaskInstanceState.SCHEDULED,
            expected=[TaskInstanceState.QUEUED],
            extra_where=TaskInstance.try_number == workload.try_number - 1,
        )
