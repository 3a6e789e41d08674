"""The pure planner: one DAG run's task-instance states in, scheduling decisions out.

No database, no I/O, no clock reads: ``now`` is a parameter. The applier (owned by the
scheduler loop) writes a :class:`RunPlan` in one transaction, in this order:

1. ``create``: insert a task instance (map index -1, state ``none``) per task id;
2. ``remove`` -> ``removed``; ``skip`` -> ``skipped`` (with ``notes[key]`` as the note);
   ``upstream_fail`` -> ``upstream_failed``;
3. ``expand[task_id] = n``: the placeholder (map index -1) becomes map indexes 0..n-1,
   created ready to run (state ``scheduled``); ``n == 0`` never appears here (the
   placeholder is in ``skip`` instead, note ``"empty map"``);
4. ``schedule`` -> ``scheduled`` (from ``none``, ``up_for_retry`` or ``up_for_reschedule``);
5. ``run_state`` (if not None) finishes the run.

Decisions cascade inside one plan: a task skipped here counts as skipped for its
downstream tasks in the same plan, so a skip or failure propagates through a whole
chain at once. ``past_not_met`` carries ``depends_on_past`` / ``wait_for_downstream``,
which need other runs: the caller lists the task ids whose past condition is not met;
such a task is neither scheduled nor skipped (Airflow's "wait for past depends before
skipping"), but can still become ``upstream_failed``; retries are not held.

Semantics chosen where Airflow leaves room: a branch decision
(``BRANCH_XCOM_KEY`` value, keyed by the branching task id) applies only once that task
succeeded, and only to task instances still in state ``none``; ``all_descendants``
skips every descendant whatever its trigger rule. A mapped task whose ``xcom`` input
has no ``task_map`` entry once it may run becomes ``upstream_failed`` (as Airflow does
when it cannot expand). Task instances of tasks gone from the DAG become ``removed``
only from states the transition table allows (never running or finished ones) and are
ignored by the run's final state. The run finishes by Airflow's leaf rule once every
task instance is finished (``failed`` if a leaf is ``upstream_failed`` or ``failed``
without ``allow_failure``), or fails early on a task deadlock (only ``none`` task
instances left, none can move, none with ``depends_on_past``/``wait_for_downstream``/
``max_active_tis_per_dag``/``max_active_tis_per_dagrun``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagflow.scheduler.ti_index import TIIndex, TIKey, TISnapshot, WorkingStates
from dagflow.scheduler.trigger_rules import UpstreamCounts, Verdict, evaluate
from dagflow.serialization.objects import SerializedDag, SerializedTask
from dagflow.state import FINISHED, NOT_YET_RUNNING, WAITING, DagRunState, TaskInstanceState

TI = TaskInstanceState

NOTE_DISABLED = "disabled"
NOTE_BRANCH = "branch"
NOTE_SHORT_CIRCUIT = "short_circuit"
NOTE_EMPTY_MAP = "empty map"
NOTE_MISSING_MAP_INPUT = "missing map input"


@dataclass(frozen=True)
class RunPlan:
    """The decisions for one DAG run; see the module docstring for how to apply them."""

    schedule: tuple[TIKey, ...] = ()
    skip: tuple[TIKey, ...] = ()
    upstream_fail: tuple[TIKey, ...] = ()
    remove: tuple[TIKey, ...] = ()
    expand: Mapping[str, int] = field(default_factory=dict)
    create: tuple[str, ...] = ()
    notes: Mapping[TIKey, str] = field(default_factory=dict)
    run_state: DagRunState | None = None
    warnings: tuple[str, ...] = ()
    has_soft_failures: bool = False
    next_wakeup: datetime | None = None

    @property
    def is_empty(self) -> bool:
        """True if the plan changes nothing (``warnings`` and ``next_wakeup`` aside)."""
        return not (
            self.schedule
            or self.skip
            or self.upstream_fail
            or self.remove
            or self.expand
            or self.create
            or self.run_state
        )


def next_wakeup(tis: Iterable[TISnapshot]) -> datetime | None:
    """The earliest ``next_try_at`` among ``up_for_retry``/``up_for_reschedule`` TIs."""
    times = [t.next_try_at for t in tis if t.state in WAITING and t.next_try_at is not None]
    return min(times) if times else None


def plan_run(
    dag: SerializedDag,
    tis: Sequence[TISnapshot] | TIIndex,
    *,
    task_map: Mapping[str, int],
    branch_decisions: Mapping[str, Mapping[str, Any]],
    now: datetime,
    past_not_met: Iterable[str] = (),
    switched_off: Mapping[str, str | None] | None = None,
) -> RunPlan:
    """Decide what happens next in one DAG run (pure; see the module docstring).

    ``tis``: the run's task instances, as a list or as a ``TIIndex`` kept between passes
    (the same plan either way; with an index a pass costs what changed, not the run's size).
    ``switched_off``: ``task_id -> reason`` of tasks disabled for this run without editing
    code (``tasks disable``); they behave as ``disabled=True``, with the note ``"disabled: REASON"``.
    """
    index = tis if isinstance(tis, TIIndex) else TIIndex(tis)
    planner = _Planner(dag, index, task_map, branch_decisions, now, frozenset(past_not_met))
    planner.switched_off = dict(switched_off or {})
    return planner.plan()


class _Planner:
    """One planning pass; holds the working (effective) states while deciding."""

    def __init__(
        self,
        dag: SerializedDag,
        tis: TIIndex,
        task_map: Mapping[str, int],
        branch_decisions: Mapping[str, Mapping[str, Any]],
        now: datetime,
        past_not_met: frozenset[str],
    ) -> None:
        self.dag = dag
        self.tis = tis
        self.task_map = task_map
        self.branch_decisions = branch_decisions
        self.now = now
        self.past_not_met = past_not_met
        self.states = WorkingStates(tis)
        self.schedule: list[TIKey] = []
        self.skip: list[TIKey] = []
        self.upstream_fail: list[TIKey] = []
        self.remove: list[TIKey] = []
        self.create: list[str] = []
        self.expand: dict[str, int] = {}
        self.notes: dict[TIKey, str] = {}
        self.warnings: list[str] = []
        self.switched_off: dict[str, str | None] = {}

    def plan(self) -> RunPlan:
        """Run every step and build the plan."""
        self._remove_strays()
        self._create_missing()
        self._schedule_due_retries()
        forced = self._forced_skips()
        for task_id in self.dag.topological_order():
            self._decide_task(self.dag.get_task(task_id), forced.get(task_id))
        soft = self._soft_failures()
        run_state = self._run_state(soft)
        return RunPlan(
            schedule=tuple(self.schedule),
            skip=tuple(self.skip),
            upstream_fail=tuple(self.upstream_fail),
            remove=tuple(self.remove),
            expand=dict(self.expand),
            create=tuple(self.create),
            notes=dict(self.notes),
            run_state=run_state,
            warnings=tuple(self.warnings),
            has_soft_failures=bool(soft),
            next_wakeup=self._next_wakeup(),
        )

    # --- steps -----------------------------------------------------------------------
    def _remove_strays(self) -> None:
        """Task instances of tasks gone from the DAG (or map indexes of a task no longer mapped)."""
        for key in self.tis.in_order(self._stray_keys()):
            if self.states.get(key) in NOT_YET_RUNNING:
                self.remove.append(key)
                self.notes[key] = "task removed from the DAG"
                self.states.set(key, TI.REMOVED)

    def _stray_keys(self) -> list[TIKey]:
        """Looks only at tasks that can have strays: a live mapped task's instances never are."""
        keys: list[TIKey] = []
        for task_id in self.tis.task_ids():
            task = self.dag.tasks.get(task_id)
            if task is None or not task.is_mapped:
                keys.extend((task_id, i) for i in self.tis.entries(task_id) if task is None or i >= 0)
        return keys

    def _create_missing(self) -> None:
        for task_id in self.dag.topological_order():
            # A removed placeholder row still holds the key (task_id, -1): never re-insert it.
            if not self._live_count(task_id) and not self.states.has((task_id, -1)):
                self.create.append(task_id)
                self.states.set((task_id, -1), TI.NONE)

    def _schedule_due_retries(self) -> None:
        for ti in self.tis.waiting():
            if ti.task_id in self.dag.tasks and self._due(ti) and self.states.get(ti.key) is ti.state:
                self._decide(ti.key, TI.SCHEDULED, self.schedule)

    def _forced_skips(self) -> dict[str, str]:
        """Task ids that a finished branch or short-circuit task skips, with the note."""
        forced: dict[str, str] = {}
        for branch_id, decision in self.branch_decisions.items():
            if branch_id not in self.dag.tasks or not self._succeeded(branch_id):
                continue
            if decision.get("all_descendants"):
                for tid in self.dag.descendants(branch_id):
                    forced.setdefault(tid, NOTE_SHORT_CIRCUIT)
                continue
            followed = set(decision.get("followed") or ())
            for tid in self.dag.get_task(branch_id).downstream_task_ids - followed:
                forced.setdefault(tid, NOTE_BRANCH)
        return forced

    def _decide_task(self, task: SerializedTask, forced_note: str | None) -> None:
        pending = self.states.indexes_in(task.task_id, TI.NONE)
        if not pending:
            return
        if forced_note is not None:
            for index in pending:
                self._skip((task.task_id, index), forced_note)
            return
        verdict = evaluate(task.trigger_rule, self._counts(task))
        if task.task_id in self.past_not_met and verdict in (Verdict.RUN, Verdict.SKIP):
            verdict = Verdict.WAIT
        for index in pending:
            self._apply(task, index, verdict)

    def _apply(self, task: SerializedTask, index: int, verdict: Verdict) -> None:
        key = (task.task_id, index)
        if verdict is Verdict.SKIP:
            self._skip(key, None)
        elif verdict is Verdict.UPSTREAM_FAILED:
            self._decide(key, TI.UPSTREAM_FAILED, self.upstream_fail)
        elif verdict is Verdict.RUN:
            if task.disabled:
                self._skip(key, NOTE_DISABLED)
            elif task.task_id in self.switched_off:
                reason = self.switched_off[task.task_id]
                self._skip(key, f"{NOTE_DISABLED}: {reason}" if reason else NOTE_DISABLED)
            elif task.is_mapped and index < 0:
                self._expand(task)
            else:
                self._decide(key, TI.SCHEDULED, self.schedule)

    def _expand(self, task: SerializedTask) -> None:
        key = (task.task_id, -1)
        length = self._map_length(task)
        if length is None:
            self.notes[key] = NOTE_MISSING_MAP_INPUT
            self._decide(key, TI.UPSTREAM_FAILED, self.upstream_fail)
        elif length == 0:
            self._skip(key, NOTE_EMPTY_MAP)
        else:
            self.expand[task.task_id] = length
            self.states.delete(key)
            for index in range(length):
                self.states.set((task.task_id, index), TI.SCHEDULED)

    # --- mapping ---------------------------------------------------------------------
    def _map_length(self, task: SerializedTask) -> int | None:
        """Product of the expand inputs' lengths; None if one is not known."""
        total = 1
        for spec in task.expand_input.values():
            length = self._input_length(spec)
            if length is None:
                return None
            total *= length
        return total

    def _input_length(self, spec: Mapping[str, Any]) -> int | None:
        if spec.get("kind") == "literal":
            return int(spec["length"])
        if spec.get("kind") == "zip":
            lengths = [self._input_length(inner) for inner in spec["inputs"]]
            if any(length is None for length in lengths):
                return None
            known = [int(length) for length in lengths if length is not None]
            return max(known) if spec.get("longest") else min(known)
        source = str(spec.get("task_id"))
        upstream = self.dag.tasks.get(source)
        if upstream is not None and upstream.is_mapped:
            placeholder = self.states.get((source, -1))
            return self._live_count(source) - (placeholder is not None and placeholder is not TI.REMOVED)
        length = self.task_map.get(source)
        return None if length is None else int(length)

    # --- counting --------------------------------------------------------------------
    def _counts(self, task: SerializedTask) -> UpstreamCounts:
        """Upstream counts, with allow_failure and disabled counted as success."""
        n = {"success": 0, "skipped": 0, "failed": 0, "upstream_failed": 0, "removed": 0}
        setups = {"setup_total": 0, "setup_success": 0, "setup_skipped": 0}
        done = total = 0
        for upstream_id in task.upstream_task_ids:
            upstream = self.dag.tasks.get(upstream_id)
            is_setup = upstream is not None and upstream.is_setup
            counts = self.states.counts(upstream_id) or {TI.NONE: 1}
            for state, count in counts.items():
                total += count
                setups["setup_total"] += is_setup * count
                if state in FINISHED:
                    done += count
                    off = upstream_id in self.switched_off
                    n["success" if off and state is TI.SKIPPED else upstream_bucket(state, upstream)] += count
                    setups["setup_success"] += (is_setup and state is TI.SUCCESS) * count
                    setups["setup_skipped"] += (is_setup and state is TI.SKIPPED) * count
        return UpstreamCounts(done=done, total=total, **n, **setups)

    # --- finishing -------------------------------------------------------------------
    def _soft_failures(self) -> list[str]:
        soft = sorted(
            tid for tid, task in self.dag.tasks.items() if task.allow_failure and self.states.counts(tid)[TI.FAILED]
        )
        for tid in soft:
            self.warnings.append(f"task {tid} failed but allows failure")
        return soft

    def _run_state(self, soft: list[str]) -> DagRunState | None:
        """Airflow's leaf rule, plus its deadlock rule."""
        live = {tid: self.states.counts(tid) for tid in self.dag.tasks}
        unfinished = [(tid, s) for tid, counts in live.items() for s in counts if s not in FINISHED]
        if unfinished:
            return self._deadlock_state(unfinished)
        for leaf in self.dag.effective_leaves:
            if leaf.is_teardown and not leaf.on_failure_fail_dagrun:
                continue  # a failed teardown does not fail the run (Airflow), unless it asks to
            counts = live.get(leaf.task_id, Counter[TaskInstanceState]())
            if counts[TI.UPSTREAM_FAILED] or (counts[TI.FAILED] and not leaf.allow_failure):
                return DagRunState.FAILED
        return DagRunState.SUCCESS

    def _deadlock_state(self, unfinished: list[tuple[str, TaskInstanceState]]) -> DagRunState | None:
        """FAILED when nothing can ever move again (Airflow: 'task deadlock')."""
        if any(state is not TI.NONE for _, state in unfinished) or self._changed():
            return None
        for tid, _ in unfinished:
            task = self.dag.get_task(tid)
            if (
                task.depends_on_past
                or task.wait_for_downstream
                or task.max_active_tis_per_dag
                or task.max_active_tis_per_dagrun
            ):
                return None
            if tid in self.past_not_met:
                return None
        self.warnings.append("task deadlock: no task instance can run; run marked failed")
        return DagRunState.FAILED

    def _changed(self) -> bool:
        return bool(self.schedule or self.skip or self.upstream_fail or self.expand or self.create)

    def _next_wakeup(self) -> datetime | None:
        scheduled = set(self.schedule)
        return next_wakeup(t for t in self.tis.waiting() if t.key not in scheduled and t.task_id in self.dag.tasks)

    # --- small helpers ---------------------------------------------------------------
    def _decide(self, key: TIKey, state: TaskInstanceState, bucket: list[TIKey]) -> None:
        bucket.append(key)
        self.states.set(key, state)

    def _skip(self, key: TIKey, note: str | None) -> None:
        if note is not None:
            self.notes[key] = note
        self._decide(key, TI.SKIPPED, self.skip)

    def _live_count(self, task_id: str) -> int:
        """How many of the task's task instances are not removed."""
        counts = self.states.counts(task_id)
        return sum(counts.values()) - counts[TI.REMOVED]

    def _succeeded(self, task_id: str) -> bool:
        counts = self.states.counts(task_id)
        return bool(counts[TI.SUCCESS]) and counts[TI.SUCCESS] + counts[TI.REMOVED] == sum(counts.values())

    def _due(self, ti: TISnapshot) -> bool:
        return ti.next_try_at is None or ti.next_try_at <= self.now


def upstream_bucket(state: TaskInstanceState, upstream: SerializedTask | None) -> str:
    """Which count a finished upstream state goes into (allow_failure/disabled → success)."""
    if state is TI.FAILED and upstream is not None and upstream.allow_failure:
        return "success"
    if state is TI.SKIPPED and upstream is not None and upstream.disabled:
        return "success"
    return state.value


__all__ = [
    "RunPlan",
    "TIIndex",
    "TIKey",
    "TISnapshot",
    "next_wakeup",
    "plan_run",
]
